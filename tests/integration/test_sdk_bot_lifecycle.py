"""The bot runner's life against a real engine: stop, restart, limits, callbacks.

Each bug of issue 14 that lives here has a test: the quote left on the book after the
README's stop pattern, a restarted bot that neither saw nor cancelled its orders and
started flat, an off-tick order seen only as ``errors=2``, ``trades`` 0 with fills.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

import pytest
from client_helpers import eventually
from engine_harness import EngineProcess

from dome.client import (
    Bot,
    BotAction,
    BotRunner,
    Client,
    Execution,
    Fill,
    MarketView,
    OrderCancelled,
    OrderEvent,
    OrderRejected,
    OrderState,
    Place,
    RejectReason,
    Replace,
    Side,
)
from dome.client.history import history, portfolio_of


class Quoter(Bot):
    """Keeps one sell of ``qty`` at ``price`` resting; remembers what happens to it."""

    interval = 0.01

    def __init__(self, symbol: str, price: str = "25", qty: int = 4) -> None:
        super().__init__(symbol)
        self.price = Decimal(price)
        self.qty = Decimal(qty)
        self.fills: list[Fill] = []
        self.cancelled: list[OrderCancelled] = []
        self.rejected: list[OrderRejected] = []
        self.updates: list[OrderEvent] = []
        self.views: list[MarketView] = []
        self.quote = True

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        self.views.append(view)
        if not self.quote or view.orders:
            return ()
        return (Place(Side.SELL, self.qty, self.price),)

    def on_fill(self, fill: Fill, execution: Execution) -> None:
        self.fills.append(fill)

    def on_order_cancelled(self, event: OrderCancelled) -> None:
        self.cancelled.append(event)

    def on_order_rejected(self, event: OrderRejected) -> None:
        self.rejected.append(event)

    def on_order_updated(self, event: OrderEvent) -> None:
        self.updates.append(event)


async def own_fills(client: Client, symbol: str, prefix: str) -> Decimal:
    """The exchange's record of a bot's fills: its position from the execution history."""
    return portfolio_of(await history(client, [symbol]), prefix=prefix).position(symbol).qty


@pytest.fixture
async def carol(engine: EngineProcess) -> Client:
    async with Client(engine.address, engine.accounts["carol"]) as client:
        yield client  # type: ignore[misc]


@pytest.fixture
async def bob(engine: EngineProcess) -> Client:
    async with Client(engine.address, engine.accounts["bob"]) as client:
        yield client  # type: ignore[misc]


async def test_the_readme_stop_leaves_nothing_on_the_book(
    engine: EngineProcess, carol: Client, bob: Client
) -> None:
    """``stop.set(); await task`` used to leave the quote resting with nobody listening:
    the next take filled it and the fill never reached ``on_fill``."""
    sym = engine.symbol()
    bot = Quoter(sym)
    stop = asyncio.Event()
    runner = BotRunner(bot, carol, tag="readme")
    task = asyncio.create_task(runner.run(stop))
    await eventually(lambda: carol.open_orders(sym), "the bot's quote")
    stop.set()
    await task
    await runner.cancel_all()
    taken = await bob.submit_order(sym, "buy", "4", "25", "ioc")
    assert taken.filled_qty == 0, "a quote stayed on the book after the bot stopped"
    assert await carol.open_orders(sym) == []
    assert [e.order.state for e in bot.cancelled] == [OrderState.CANCELLED]
    assert runner.position == await own_fills(carol, sym, runner.prefix) == 0


async def test_stop_delivers_every_fill_made_before_the_cancel(
    engine: EngineProcess, carol: Client, bob: Client
) -> None:
    sym = engine.symbol()
    bot = Quoter(sym)
    runner = BotRunner(bot, carol, tag="drain")
    runner.start()
    await eventually(lambda: carol.open_orders(sym), "the bot's quote")
    bot.quote = False
    # The take and the stop together: the fill report is still on its way when the
    # stop cancels, and the runner reads on until it has it.
    taken = await bob.submit_order(sym, "buy", "3", "25", "ioc")
    stats = await runner.stop()
    assert taken.filled_qty == 3
    assert [f.qty for f in bot.fills] == [3]
    assert (stats.fills, stats.trades) == (1, 1)
    assert runner.position == -3 == await own_fills(carol, sym, runner.prefix)
    position = runner.portfolio.position(sym)
    assert (position.avg_price, position.sold) == (Decimal(25), Decimal(3))


async def test_a_restarted_bot_adopts_its_orders_and_position(
    engine: EngineProcess, carol: Client, bob: Client
) -> None:
    sym = engine.symbol()
    first = BotRunner(Quoter(sym), carol, tag="phoenix")
    first.cancel_on_stop = False  # as if it crashed
    first.start()
    await eventually(lambda: carol.open_orders(sym), "the first run's quote")
    await bob.submit_order(sym, "buy", "1", "25", "ioc")
    await eventually(lambda: first.position == -1, "the first run's fill")
    await first.stop()
    [left] = await carol.open_orders(sym)

    bot = Quoter(sym)
    second = BotRunner(bot, carol, tag="phoenix")
    second.start()
    await eventually(lambda: bot.views, "the second run's first view")
    view = bot.views[0]
    assert view.position_qty == -1, "the restarted bot started flat"
    assert [(o.order_id, o.open_qty) for o in view.orders] == [(left.order_id, 3)]
    assert [o.order_id for o in view.open_orders] == [left.order_id]
    assert bot.fills == [], "history was told to the bot as new fills"
    await bob.submit_order(sym, "buy", "1", "25", "ioc")
    await eventually(lambda: bot.fills, "a fill of the adopted order")
    await second.stop()
    assert second.position == -2 == await own_fills(carol, sym, second.prefix)
    assert await carol.open_orders(sym) == []


async def test_a_restarted_bot_can_cancel_what_it_finds(
    engine: EngineProcess, carol: Client
) -> None:
    sym = engine.symbol()
    first = BotRunner(Quoter(sym), carol, tag="tidy")
    first.cancel_on_stop = False
    first.start()
    await eventually(lambda: carol.open_orders(sym), "the first run's quote")
    await first.stop()
    bot = Quoter(sym)
    bot.quote = False
    second = BotRunner(bot, carol, tag="tidy", on_restart="cancel")
    second.start()
    await eventually(lambda: bot.views, "the second run's first view")
    assert await carol.open_orders(sym) == []
    assert bot.views[0].orders == ()
    await second.stop()


class Chaser(Bot):
    """Moves its 1-lot ask with Replace; also tries an off-tick price once."""

    interval = 0.01
    max_position = Decimal(2)

    def __init__(self, symbol: str) -> None:
        super().__init__(symbol)
        self.rejected: list[OrderRejected] = []
        self.worst = Decimal(0)
        self.position = Decimal(0)
        self.step = 0

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        self.step += 1
        self.worst = min(self.worst, view.position_qty)
        if self.step == 1:
            return (Place(Side.SELL, Decimal(1), Decimal("30.005")),)  # off tick
        resting = [o for o in view.orders if o.resting]
        if resting:
            price = Decimal(30) if resting[0].price != 30 else Decimal(31)
            return (Replace(resting[0].order_id, price=price),)
        # Ask for more than the limit allows: the runner refuses what would breach.
        return tuple(Place(Side.SELL, Decimal(1), Decimal(30)) for _ in range(3))

    def on_order_rejected(self, event: OrderRejected) -> None:
        self.rejected.append(event)

    def on_fill(self, fill: Fill, execution: Execution) -> None:
        self.position -= fill.qty


async def test_the_limit_holds_and_every_failure_is_an_event(
    engine: EngineProcess, carol: Client, bob: Client
) -> None:
    sym = engine.symbol()
    bot = Chaser(sym)
    runner = BotRunner(bot, carol, tag="chaser")
    runner.start()
    await eventually(lambda: runner.stats.replaces >= 3, "replaces")
    for _ in range(15):
        await bob.submit_order(sym, "buy", "1", "31", "ioc")
    await eventually(lambda: runner.position == -2, "the bot's position at its limit")
    stats = await runner.stop()
    reasons = [e.order.reject_reason for e in bot.rejected]
    assert reasons[0] is RejectReason.PRICE_OFF_TICK
    assert any("max_position" in e.order.reject_message for e in bot.rejected)
    assert stats.risk_refusals >= 1
    assert bot.worst >= -2
    assert bot.position >= -2
    assert runner.position == bot.position == await own_fills(carol, sym, runner.prefix)
    assert stats.trades == stats.fills == -bot.position
