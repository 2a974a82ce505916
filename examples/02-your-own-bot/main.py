"""A trading bot in a page: decide which orders you want, hear about your fills.

    dome up &                                   # in another terminal
    python examples/02-your-own-bot/main.py --token "$(jq -r .alice .dome/accounts.json)"

The ``BotRunner`` does the rest: book/trade/execution streams, placing and cancelling,
each order's lifecycle, the position, and a stop that takes your orders off the book
and waits until every cancel is confirmed and every fill delivered. ``Client.local``
reaches the local ``dome up`` through its discovery, so a failover does not stop it.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from decimal import Decimal

from dome.client import (
    Bot,
    BotAction,
    BotRunner,
    Cancel,
    Client,
    Execution,
    Fill,
    MarketView,
    Place,
    Side,
)


class PennyJumper(Bot):
    """Keeps one bid a tick above the best bid (or at 100 on an empty book)."""

    interval = 0.05

    def __init__(self, symbol: str) -> None:
        super().__init__(symbol)
        self.bought = Decimal(0)
        self.fills = 0

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        target = (view.best_bid or Decimal(100)) + view.spec.tick_size
        mine = [o for o in view.open_orders if o.side == Side.BUY]
        if mine and mine[0].price >= (view.best_bid or Decimal(0)):
            return []  # already best
        return [*(Cancel(o.order_id) for o in mine), Place(Side.BUY, view.lots(1), target)]

    def on_fill(self, fill: Fill, execution: Execution) -> None:
        self.bought += fill.qty
        self.fills += 1
        print(f"bought {fill.qty} @ {fill.price}, {self.bought} in total")


def connect(target: str | None, token: str) -> Client:
    """The engine given, else the local `dome up` through its discovery."""
    return Client(target, token) if target else Client.local(token)


async def main(target: str | None, token: str, seller_token: str | None, symbol: str) -> None:
    async with connect(target, token) as client:
        bot = PennyJumper(symbol)
        runner = BotRunner(bot, client, tag="penny")
        runner.start()
        if seller_token:
            # Someone to trade with: another account hits our bid until we had 3 fills.
            async with connect(target, seller_token) as seller:
                while bot.fills < 3:
                    book = await seller.book(symbol)
                    if book.bids:
                        best = book.bids[0]
                        await seller.submit_order(symbol, "sell", best.qty, best.price, "ioc")
                    await asyncio.sleep(0.05)
        else:
            await asyncio.sleep(5)
        stats = await runner.stop()  # cancels the bid, waits for the answer and last fills
        print(f"orders {stats.orders}, cancels {stats.cancels}, fills {stats.fills}, "
              f"position {runner.position}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="engine HOST:PORT (default: the local `dome up`)")
    parser.add_argument("--token", required=True)
    parser.add_argument("--seller-token", help="another account that sells into the bid")
    parser.add_argument("--symbol", default="XYZ")
    args = parser.parse_args()
    asyncio.run(main(args.target, args.token, args.seller_token, args.symbol))
