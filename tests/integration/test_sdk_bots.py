"""Bots against a real engine: the framework places, tracks and cancels; bots trade."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from client_helpers import eventually
from engine_harness import EngineProcess, start_engine

from dome.client import STOP_GRACE_S, Bot, BotAction, BotRunner, Client, MarketView, Place
from dome.client.models import Execution, Fill
from dome.client.simulation import Simulation, predefined
from dome.core.types import OrderType, Side


class OneShotSeller(Bot):
    """Places one resting sell and remembers its fills: the smallest possible bot."""

    interval = 0.01

    def __init__(self, symbol: str) -> None:
        super().__init__(symbol)
        self.placed = False
        self.fills: list[Fill] = []

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        if self.placed:
            return ()
        self.placed = True
        return (Place(Side.SELL, Decimal(4), Decimal(25), OrderType.LIMIT),)

    def on_fill(self, fill: Fill, execution: Execution) -> None:
        self.fills.append(fill)


async def test_bot_gets_its_fills_and_sees_its_orders(engine: EngineProcess) -> None:
    sym = engine.symbol()
    bot = OneShotSeller(sym)
    stop = asyncio.Event()
    async with (
        Client(engine.address, engine.accounts["carol"]) as carol,
        Client(engine.address, engine.accounts["bob"]) as bob,
    ):
        runner = BotRunner(bot, carol, tag="oneshot")
        task = asyncio.create_task(runner.run(stop))
        await eventually(lambda: carol.open_orders(sym), "the bot's order")
        # The runner subscribed to executions before placing, so one take is one fill.
        taken = await bob.submit_order(sym, "buy", "1", "25", "ioc")
        assert taken.filled_qty == 1
        await eventually(lambda: bot.fills, "the bot's fill")
        stop.set()
        stats = await task
    assert stats.orders == 1
    assert len(bot.fills) == 1
    assert bot.fills[0].price == 25
    assert bot.fills[0].maker


async def test_simulated_bots_trade(engine: EngineProcess) -> None:
    sym = engine.symbol()
    configs = predefined(3, [sym], ["alice", "bob", "carol"], seed=7)
    sim = Simulation(engine.address, engine.accounts, configs)
    stop = asyncio.Event()
    task = asyncio.create_task(sim.run(stop))
    await eventually(lambda: sim.totals().trades >= 5 or task.done(), "bot trades", within=15)
    stop.set()
    totals = await task
    assert totals.orders > 0
    assert totals.trades >= 5
    assert totals.errors == 0
    async with Client(engine.address) as market:
        assert len(await market.trades(sym, 1000)) >= totals.trades
        book = await market.book(sym)
    # The runners take their orders off the book when they stop.
    assert book.bids == ()
    assert book.asks == ()


class Quoter(Bot):
    """Places a small resting buy every tick: always has an order call to make."""

    interval = 0.01

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        return (Place(Side.BUY, Decimal(1), Decimal(10), OrderType.LIMIT),)


class FreezingQuoter(Quoter):
    """A ``Quoter`` that freezes the engine (SIGSTOP) as it asks for its ``freeze_at``-th
    order: the call that follows is then certainly made to an engine that never answers.

    Freezing from the test instead races the bot: a call already in flight when the
    signal lands hangs for good and no later call starts (seen under a loaded CI run).
    """

    def __init__(self, symbol: str, pid: int, freeze_at: int) -> None:
        super().__init__(symbol)
        self.pid = pid
        self.freeze_at = freeze_at
        self.asked = 0

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        self.asked += 1
        if self.asked == self.freeze_at:
            os.kill(self.pid, signal.SIGSTOP)  # the engine stops answering
        return super().generate_orders(view)


async def test_bot_stops_within_its_grace_while_an_order_call_hangs(tmp_path: Path) -> None:
    """A stop is not held up by a call the exchange never answers (dome up, discovery
    dead: each queued action retried for the client's whole deadline, up to 40 s)."""
    engine = start_engine(tmp_path)
    stop = asyncio.Event()
    try:
        # Attempts and the retry deadline far longer than the grace: only the runner's
        # own stop handling can end the run in time.
        async with Client(engine.address, engine.accounts["carol"], timeout=30,
                          retry_deadline=60) as carol:  # fmt: skip
            bot = FreezingQuoter(engine.symbol(), engine.proc.pid, freeze_at=3)
            runner = BotRunner(bot, carol, tag="quoter")
            task = asyncio.create_task(runner.run(stop))
            # The third order call starts right after the freeze, with nothing in between.
            await eventually(lambda: runner.stats.orders >= 3, "an order call to a frozen engine")
            assert bot.asked == 3, "the runner asked for more orders while its call hangs"
            stop.set()
            stats = await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_S + 5)
            assert stats.orders == 3
    finally:
        os.kill(engine.proc.pid, signal.SIGCONT)
        engine.stop()
