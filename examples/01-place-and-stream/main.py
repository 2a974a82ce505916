"""Place orders with the SDK and watch your executions arrive as a stream.

    dome up &                                   # in another terminal
    python examples/01-place-and-stream/main.py --token "$(jq -r .alice .dome/accounts.json)"

Prices and quantities are Decimals (or decimal strings); the SDK converts them exactly to
the instrument's ticks and lots and refuses values off the grid before sending.
"""

from __future__ import annotations

import argparse
import asyncio

from dome.client import Client


async def main(target: str | None, token: str, symbol: str) -> None:
    # The engine given, else the local `dome up` through its discovery (rides failovers).
    async with Client(target, token) if target else Client.local(token) as client:
        # Subscribed before trading: every report of what follows is in the stream.
        executions = await client.subscribe_executions([symbol])
        # A resting sell, then a buy that takes part of it. One account is on both sides
        # here, so self-trade prevention cancels the resting sell instead of trading it,
        # and the IOC buy, finding nothing else, cancels its rest.
        sell = await client.submit_order(symbol, "sell", "3", "101.50")
        buy = await client.submit_order(symbol, "buy", "2", "101.50", "ioc")
        print(f"sell #{sell.order_id}: {sell.status.name.lower()}")
        print(f"buy #{buy.order_id}: {buy.status.name.lower()}, fills {list(buy.fills)}")
        seen = 0
        async for report in executions:
            kind = report.exec_type.name.lower() if report.exec_type else "?"
            print(f"  report seq {report.seq}: order #{report.order_id} {kind}")
            seen += 1
            if seen == 3:  # new (sell), cancelled (sell), cancelled (buy)
                break
        book = await client.book(symbol)
        print(f"book at seq {book.seq}: bids {len(book.bids)} levels, asks {len(book.asks)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="engine HOST:PORT (default: the local `dome up`)")
    parser.add_argument("--token", required=True)
    parser.add_argument("--symbol", default="XYZ")
    args = parser.parse_args()
    asyncio.run(main(args.target, args.token, args.symbol))
