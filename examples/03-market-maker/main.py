"""An inventory-limited market maker (±10 lots) and an IOC taker that trades with it.

    dome up --engines 3 &                       # in another terminal
    python examples/03-market-maker/main.py \\
        --token "$(jq -r .alice .dome/tokens.json)" \\
        --taker-token "$(jq -r .bob .dome/tokens.json)"

The maker quotes one lot each side around the mid of the *other* traders' quotes,
skewed against its inventory, and moves its quotes with ``Replace`` (one amend: never
two quotes at once). ``max_position`` makes the runner refuse any order that could take
the position past ±10 lots if every open order filled, pending ones included, so the
limit holds while cancels and replacements are in flight.

Both bots reach the exchange through discovery (``Client.local``), so a kill -9 of a
primary only moves their orders to the new one. Stopped with Ctrl-C or SIGTERM, the
runners cancel their quotes and read on until every cancel is confirmed and every fill
delivered; started again with the same ``--tag``, the maker finds its position and the
orders a crashed run left on the book. The last line is the maker's summary as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from dome.client import (
    Bot,
    BotAction,
    BotRunner,
    Client,
    Execution,
    Fill,
    MarketView,
    OrderRejected,
    OrderType,
    Place,
    Replace,
    Side,
)

LIMIT_LOTS = 10


class MarketMaker(Bot):
    """One lot bid and one lot ask around the others' mid, skewed by inventory."""

    interval = 0.05

    def __init__(self, symbol: str, lot: Decimal, spread_ticks: int = 4) -> None:
        super().__init__(symbol)
        self.lot = lot
        self.spread_ticks = spread_ticks
        self.max_position = lot * LIMIT_LOTS
        #: The position as of the last view and the fills since (the runner's is exact:
        #: it is seeded from the exchange's position record at start).
        self.position = Decimal(0)
        #: The largest |position| the bot ever saw (the test checks the exchange's too).
        self.widest = Decimal(0)
        self.refused = 0

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        tick = view.spec.tick_size
        fair = view.mid_price(exclude_own=True) or self.ref_price
        position = self.position = view.position_qty
        self.widest = max(self.widest, abs(position))
        skew = (position / self.lot) * tick
        actions: list[BotAction] = []
        for side, sign in ((Side.BUY, -1), (Side.SELL, 1)):
            price = view.on_tick(fair + sign * self.spread_ticks * tick - skew, up=sign > 0)
            mine = [o for o in view.orders if o.side is side and not o.state.final]
            if not mine:
                actions.append(Place(side, self.lot, price))
            elif mine[0].resting and mine[0].order_id and mine[0].price != price:
                actions.append(Replace(mine[0].order_id, price=price))
        return actions

    def on_fill(self, fill: Fill, execution: Execution) -> None:
        self.position += fill.qty if execution.side is Side.BUY else -fill.qty
        self.widest = max(self.widest, abs(self.position))
        side = execution.side.name.lower() if execution.side else "?"
        print(f"fill {side} {fill.qty} @ {fill.price} position {self.position}", flush=True)

    def on_order_rejected(self, event: OrderRejected) -> None:
        self.refused += 1


class Taker(Bot):
    """Crosses the spread with IOC orders of 1-3 lots, each side at random."""

    interval = 0.1

    def __init__(self, symbol: str, lot: Decimal, seed: int = 1) -> None:
        super().__init__(symbol, seed=seed)
        self.lot = lot

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        side = Side.BUY if self.rng.random() < 0.5 else Side.SELL
        best = view.best_ask if side is Side.BUY else view.best_bid
        if best is None:
            return ()
        qty = self.lot * self.rng.randint(1, 3)
        return (Place(side, qty, best, OrderType.IOC),)


async def main(args: argparse.Namespace) -> dict[str, object]:
    options = {"data_dir": Path(args.data_dir)}
    async with (
        Client.local(args.token, **options) as maker_client,
        Client.local(args.taker_token, **options) as taker_client,
    ):
        spec = await maker_client.spec(args.symbol)
        maker = MarketMaker(args.symbol, spec.min_qty)
        runner = BotRunner(maker, maker_client, tag=args.tag)
        taker = BotRunner(Taker(args.symbol, spec.min_qty), taker_client, tag=f"{args.tag}-taker")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner.start()
        taker.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.duration):
                await stop.wait()
        await taker.stop()
        stats = await runner.stop()
        position = runner.portfolio.position(args.symbol)
        return {
            "tag": runner.tag,
            "prefix": runner.prefix,
            "seeded": runner.seeded,
            "position": str(position.qty),
            "avg_price": str(position.avg_price),
            "realised": str(position.realised),
            "widest": str(maker.widest),
            "limit": str(maker.max_position),
            "fills": stats.fills,
            "orders": stats.orders,
            "replaces": stats.replaces,
            "risk_refusals": stats.risk_refusals,
            "open_after_stop": len(await maker_client.open_orders(args.symbol)),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--token", required=True, help="the maker's account token")
    parser.add_argument("--taker-token", required=True, help="the taker's account token")
    parser.add_argument("--data-dir", default=".dome", help="`dome up`'s state directory")
    parser.add_argument("--symbol", default="XYZ")
    parser.add_argument("--tag", default="mm", help="names the maker across restarts")
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds to run")
    summary = asyncio.run(main(parser.parse_args()))
    print(json.dumps(summary), flush=True)
