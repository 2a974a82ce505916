"""The bot framework: a bot says which orders it wants and hears about its fills; that's all.

Everything else (the connection, the book, trade and execution streams, placing and
cancelling, keeping track of what is still open) is the ``BotRunner``'s job, so that a
trading idea fits in a page. A bot is called on a cadence with a ``MarketView`` and
answers with ``Place`` and ``Cancel`` actions; fills arrive through ``on_fill``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from dome.client.client import Client
from dome.client.errors import DomeError
from dome.client.models import ExecType, Execution, Fill, Trade
from dome.core.types import OrderType, Side
from dome.instruments import InstrumentSpec

log = logging.getLogger(__name__)

#: Pause before reopening a failed stream; it doubles up to the maximum while it fails.
RESUBSCRIBE_FIRST_S = 0.1
RESUBSCRIBE_MAX_S = 2.0
#: How long an order call still in flight when the stop comes may take to finish. A
#: working exchange answers in milliseconds; a broken one (discovery gone, no primary)
#: would hold the bot for the client's whole retry deadline per queued action, and
#: ``dome up`` took up to 40 s to stop that way.
STOP_GRACE_S = 1.0


@dataclass(frozen=True)
class Place:
    """Ask the runner to place an order (``price`` None for market orders)."""

    side: Side
    qty: Decimal
    price: Decimal | None = None
    type: OrderType = OrderType.LIMIT


@dataclass(frozen=True)
class Cancel:
    """Ask the runner to cancel one of the bot's open orders."""

    order_id: int


BotAction = Place | Cancel


@dataclass(frozen=True)
class MyOrder:
    """One of the bot's orders that still rests on the book."""

    order_id: int
    side: Side
    price: Decimal
    remaining_qty: Decimal


@dataclass(frozen=True)
class MarketView:
    """What a bot sees when asked for orders."""

    symbol: str
    spec: InstrumentSpec
    best_bid: Decimal | None
    best_ask: Decimal | None
    last_trade: Trade | None
    open_orders: tuple[MyOrder, ...]

    @property
    def mid(self) -> Decimal | None:
        """Middle of the spread, else the one side there is, else the last trade price."""
        if self.best_bid is not None and self.best_ask is not None:
            return (self.best_bid + self.best_ask) / 2
        if self.best_bid is not None or self.best_ask is not None:
            return self.best_bid if self.best_bid is not None else self.best_ask
        return self.last_trade.price if self.last_trade else None

    def on_tick(self, price: Decimal, up: bool = False) -> Decimal:
        """``price`` moved onto the tick grid (down unless ``up``), never below one tick."""
        tick = self.spec.tick_size
        ticks = (price / tick).to_integral_value(rounding="ROUND_CEILING" if up else "ROUND_FLOOR")
        return max(ticks, Decimal(1)) * tick

    def lots(self, n: int) -> Decimal:
        """``n`` minimum quantities, a valid order size for any n >= 1."""
        return self.spec.min_qty * n


class Bot:
    """Subclass and implement ``generate_orders`` and (optionally) ``on_fill``.

    ``interval`` is the cadence in seconds; ``self.rng`` is seeded so a run is repeatable
    as far as the market lets it be.
    """

    interval: float = 0.1

    def __init__(self, symbol: str, *, seed: int = 0, ref_price: Decimal | None = None) -> None:
        self.symbol = symbol
        self.rng = random.Random(seed)
        self.ref_price = ref_price if ref_price is not None else Decimal(100)

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        """The orders to place and cancel now."""
        raise NotImplementedError

    def on_fill(self, fill: Fill, execution: Execution) -> None:
        """One of the bot's orders traded."""

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass
class BotStats:
    """Counts of one runner's activity."""

    orders: int = 0
    cancels: int = 0
    rejects: int = 0
    trades: int = 0
    fills: int = 0
    errors: int = 0
    #: Times a market data or execution stream was opened again after it failed.
    resubscribes: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


class BotRunner:
    """Runs one bot against one client: streams in, actions out, open orders tracked."""

    def __init__(self, bot: Bot, client: Client, *, tag: str) -> None:
        self.bot = bot
        self.client = client
        # Prefix of this run's client order ids: tells its reports apart from other bots'
        # on the account, and the random part keeps a restarted bot from reusing an id
        # (the exchange would answer a reused id with the old order's result).
        self.tag = f"{tag}-{secrets.token_hex(4)}"
        self.stats = BotStats()
        self._best: tuple[Decimal | None, Decimal | None] = (None, None)
        self._last_trade: Trade | None = None
        self._open: dict[int, MyOrder] = {}
        self._seen_seq: dict[int, int] = {}
        self._ids = 0

    async def run(self, stop: asyncio.Event) -> BotStats:
        """Trade until ``stop`` is set; stream failures end the run, order errors do not."""
        spec = await self.client.spec(self.bot.symbol)
        # Subscribed before the first order, so no fill of the bot's can slip past it.
        reports = await self.client.subscribe_executions([self.bot.symbol])
        tasks = [
            asyncio.create_task(self._follow_book()),
            asyncio.create_task(self._follow_trades()),
            asyncio.create_task(self._follow_executions(reports)),
        ]
        trading = asyncio.create_task(self._trade(spec, stop))
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait((trading, stopped), return_when=asyncio.FIRST_COMPLETED)
            if not trading.done():
                # Stop came mid-action: let the call in flight finish, within a grace.
                await asyncio.wait((trading,), timeout=STOP_GRACE_S)
            if trading.done():
                return trading.result()
            log.info("%s: abandoned an order call still retrying at stop", self.tag)
            return self.stats
        finally:
            for task in (trading, stopped, *tasks):
                task.cancel()
            await asyncio.gather(trading, stopped, *tasks, return_exceptions=True)

    async def _trade(self, spec: InstrumentSpec, stop: asyncio.Event) -> BotStats:
        """The bot's loop: look at the market, act, wait for the next tick or the stop."""
        while not stop.is_set():
            view = MarketView(
                self.bot.symbol,
                spec,
                *self._best,
                self._last_trade,
                tuple(self._open.values()),
            )
            for action in self.bot.generate_orders(view):
                if stop.is_set():
                    break
                await self._do(action)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancel
            # that lands as ``stop`` is set, and the bot would never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.bot.interval):
                    await stop.wait()
        return self.stats

    async def cancel_all(self) -> None:
        """Take the bot's orders off the book (best effort, used at shutdown)."""
        for order_id in list(self._open):
            with contextlib.suppress(DomeError):
                await self.client.cancel_order(self.bot.symbol, order_id)

    async def _do(self, action: BotAction) -> None:
        try:
            if isinstance(action, Cancel):
                self.stats.cancels += 1
                result = await self.client.cancel_order(self.bot.symbol, action.order_id)
            else:
                self.stats.orders += 1
                self._ids += 1
                result = await self.client.submit_order(
                    self.bot.symbol,
                    action.side,
                    action.qty,
                    action.price,
                    action.type,
                    client_order_id=f"{self.tag}-{self._ids}",
                )
                # Fills in a result are the taker's side of a trade: count each trade once.
                self.stats.trades += len(result.fills)
                if result.is_open and action.price is not None:
                    self._track(
                        result.order_id,
                        result.seq,
                        MyOrder(result.order_id, action.side, action.price, result.remaining_qty),
                    )
        except DomeError as exc:
            self.stats.errors += 1
            log.debug("%s: %s failed: %s", self.tag, action, exc)
            return
        if result.rejected:
            self.stats.rejects += 1
            reason = result.reject_reason.name.lower() if result.reject_reason else "unknown"
            self.stats.by_reason[reason] = self.stats.by_reason.get(reason, 0) + 1
        elif isinstance(action, Cancel) or not result.is_open:
            self._track(result.order_id, result.seq, None)

    def _track(self, order_id: int, seq: int, order: MyOrder | None) -> None:
        # Results and execution reports race; the higher seq is the newer truth.
        if seq < self._seen_seq.get(order_id, 0):
            return
        self._seen_seq[order_id] = seq
        if order is None:
            self._open.pop(order_id, None)
        else:
            self._open[order_id] = order

    async def _follow_book(self) -> None:
        async def follow() -> AsyncGenerator[None, None]:
            async for book in self.client.book_updates(self.bot.symbol, depth=5):
                bid, ask = book.best_bid(), book.best_ask()
                self._best = (bid.price if bid else None, ask.price if ask else None)
                yield

        await self._keep_following("book", follow)

    async def _follow_trades(self) -> None:
        async def follow() -> AsyncGenerator[None, None]:
            async for trade in self.client.trades_stream(self.bot.symbol):
                self._last_trade = trade
                yield

        await self._keep_following("trades", follow)

    async def _follow_executions(self, reports: AsyncIterator[Execution]) -> None:
        first: list[AsyncIterator[Execution]] = [reports]

        async def follow() -> AsyncGenerator[None, None]:
            # The subscription made before the first order, then fresh ones.
            stream = first.pop() if first else None
            if stream is None:
                stream = await self.client.subscribe_executions([self.bot.symbol])
            async for report in stream:
                if report.client_order_id.startswith(self.tag + "-"):
                    self._on_report(report)
                yield

        await self._keep_following("executions", follow)

    async def _keep_following(
        self, what: str, follow: Callable[[], AsyncGenerator[None, None]]
    ) -> None:
        """Run ``follow`` again whenever its stream fails or ends, with a backoff.

        The SDK already resumes a cluster's streams on another replica; this covers what
        it gives up on (no replica for a while, a single engine restarting), so a bot
        never trades on a view that silently stopped updating. Cancelled at the end.
        """
        delay = RESUBSCRIBE_FIRST_S
        while True:
            try:
                async with contextlib.aclosing(follow()) as updates:
                    async for _ in updates:
                        delay = RESUBSCRIBE_FIRST_S  # it works again: the next pause is short
            except DomeError as exc:
                log.debug("%s: %s stream failed: %s", self.tag, what, exc)
            self.stats.resubscribes += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESUBSCRIBE_MAX_S)

    def _on_report(self, report: Execution) -> None:
        if report.exec_type is ExecType.TRADE and report.fill is not None:
            self.stats.fills += 1
            self.bot.on_fill(report.fill, report)
        if (
            report.remaining_qty > 0
            and report.side is not None
            and report.exec_type
            in (
                ExecType.NEW,
                ExecType.TRADE,
                ExecType.AMENDED,
            )
        ):
            mine = MyOrder(report.order_id, report.side, report.price, report.remaining_qty)
            self._track(report.order_id, report.seq, mine)
        elif report.exec_type is not ExecType.REJECTED:
            self._track(report.order_id, report.seq, None)
