"""Runs one bot: streams in, actions out, orders and position kept, a clean stop.

Start: the runner reads the exchange's record of its book's position (every fill of
every earlier run with the same tag: ``Client.positions``, which outlives the bounded
execution history and engine restarts), subscribes to the account's execution reports
from just after the record's seq, and reads them up to a marker of its own (a cancel of
an order id that never exists, whose REJECTED report is sequenced after the
subscription), so the position, and every order the previous runs with the same tag
left open, are known before the bot is first asked. Those orders are then adopted
(default: the bot sees and manages them) or cancelled (``on_restart="cancel"``).

Trading: each action waits for its answer before the next; a ``Place`` that could take
the position beyond ``bot.max_position`` if every open order of the bot filled is
refused locally (``on_order_rejected``). Open quantity is freed only by fills seen and
cancels confirmed (``dome.client.orders``), so the limit holds while cancels and
replacements are in flight.

Stop: when ``stop`` is set, the runner cancels every open order and keeps reading the
streams until each one is done (cancel confirmed, every fill delivered to ``on_fill``),
within ``drain_timeout``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from decimal import Decimal
from typing import Literal

from dome.client.bots import STOP_GRACE_S, Bot, BotAction, BotStats, Cancel, Place, deliver
from dome.client.client import Client
from dome.client.errors import (
    DomeError,
    HistoryUnavailableError,
    OrderValueError,
    UnknownSymbolError,
)
from dome.client.history import mark
from dome.client.market_view import MarketView, MyOrder
from dome.client.models import Execution, Level, Trade
from dome.client.orders import (
    Order,
    OrderBook,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    OrderState,
)
from dome.client.portfolio import FeeSchedule, Portfolio
from dome.core.types import OrderType, RejectReason, Side
from dome.instrument_spec import InstrumentSpec

log = logging.getLogger(__name__)

#: Pause before reopening a failed stream; it doubles up to the maximum while it fails.
RESUBSCRIBE_FIRST_S = 0.1
RESUBSCRIBE_MAX_S = 2.0
#: How long a stop may wait for cancels to be confirmed and fills delivered.
DRAIN_S = 3.0
#: Reads of the position record at the start before giving up on seeding it.
SEED_ATTEMPTS = 3

Restart = Literal["adopt", "cancel"]


class BotRunner:
    """Runs one bot against one client; see the module docstring for the life cycle.

    ``tag`` names the bot across runs: every client order id is ``TAG/RUN-N``, so a
    restarted runner with the same tag finds its predecessors' orders and fills (and
    only theirs). ``fees`` books fees into the position's PnL.
    """

    def __init__(
        self,
        bot: Bot,
        client: Client,
        *,
        tag: str,
        on_restart: Restart = "adopt",
        depth: int = 10,
        recent_trades: int = 20,
        fees: FeeSchedule | None = None,
        drain_timeout: float = DRAIN_S,
    ) -> None:
        if "/" in tag or not tag:
            raise ValueError(f"a bot tag is a non-empty name without '/', not {tag!r}")
        self.bot = bot
        self.client = client
        self.tag = tag
        #: Keeps a restarted bot from reusing an id (the exchange would answer the old
        #: order's result).
        self.run_id = secrets.token_hex(3)
        self.on_restart = on_restart
        self.depth = depth
        self.drain_timeout = drain_timeout
        #: Cancel open orders at the stop and wait for the answers (``Simulation`` clears
        #: it when the exchange is known to be broken).
        self.cancel_on_stop = True
        self.stats = BotStats()
        self.portfolio = Portfolio({bot.symbol: fees} if fees else {})
        self.orders = OrderBook(self.portfolio)
        #: Whether the position started from the exchange's complete record of the book
        #: (else it counts this run's fills, or misses early ones).
        self.seeded = False
        self._bids: tuple[Level, ...] = ()
        self._asks: tuple[Level, ...] = ()
        self._trades: collections.deque[Trade] = collections.deque(maxlen=recent_trades)
        self._changed = asyncio.Event()
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[BotStats] | None = None
        self._ids = 0

    @property
    def prefix(self) -> str:
        """What every client order id of this bot (any run) starts with."""
        return f"{self.tag}/"

    @property
    def position(self) -> Decimal:
        return self.portfolio.position(self.bot.symbol).qty

    def start(self) -> asyncio.Task[BotStats]:
        """Run in a task until ``stop()``."""
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.run(self._stop))
        return self._task

    async def stop(self) -> BotStats:
        """Stop trading, cancel every open order, wait for the answers and fills."""
        if self._stop is None or self._task is None:
            raise RuntimeError("stop() before start()")
        self._stop.set()
        return await self._task

    async def run(self, stop: asyncio.Event) -> BotStats:
        """Trade until ``stop`` is set, then drain; stream failures end the run."""
        symbol = self.bot.symbol
        spec = await self.client.spec(symbol)
        reports = await self._subscribe()
        following = asyncio.create_task(self._follow_executions(reports))
        tasks = [
            following,
            asyncio.create_task(self._follow_book()),
            asyncio.create_task(self._follow_trades()),
        ]
        trading: asyncio.Task[BotStats] | None = None
        stopped = asyncio.create_task(stop.wait())
        try:
            await self._catch_up(following)
            await self._restart()
            trading = asyncio.create_task(self._trade(spec, stop))
            await asyncio.wait((trading, stopped, following), return_when=asyncio.FIRST_COMPLETED)
            if following.done():
                following.result()  # a stream failure the runner cannot recover from
            if not trading.done():
                # Stop came mid-action: let the call in flight finish, within a grace.
                await asyncio.wait((trading,), timeout=STOP_GRACE_S)
            if not trading.done():
                log.info("%s: abandoned an order call still retrying at stop", self.tag)
            if self.cancel_on_stop:
                await self._drain(self.drain_timeout)
            return self.stats
        finally:
            pending = [t for t in (trading, stopped, *tasks) if t is not None]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def cancel_all(self) -> None:
        """Cancel the bot's open orders (best effort; ``run`` does this at its stop)."""
        for order in self.orders.live(self.bot.symbol):
            if order.order_id and not order.state.final:
                with contextlib.suppress(DomeError):
                    await self.client.cancel_order(self.bot.symbol, order.order_id)

    def view(self, spec: InstrumentSpec) -> MarketView:
        """The picture the bot is shown now."""
        live = tuple(self.orders.live(self.bot.symbol))
        resting = tuple(
            MyOrder(o.order_id, o.side, o.price, o.open_qty)
            for o in live
            if o.resting and o.order_id and o.price is not None
        )
        bid, ask = self._bids[:1], self._asks[:1]
        return MarketView(
            self.bot.symbol,
            spec,
            bid[0].price if bid else None,
            ask[0].price if ask else None,
            self._trades[-1] if self._trades else None,
            resting,
            bids=self._bids,
            asks=self._asks,
            orders=live,
            position=self.portfolio.position(self.bot.symbol),
            recent_trades=tuple(self._trades),
            max_position=self.bot.max_position,
        )

    # -- start ----------------------------------------------------------------------

    async def _subscribe(self) -> AsyncIterator[Execution]:
        """Seed the position from the exchange's record of this bot's book, and follow the
        reports from just after it; live only if they are gone in between, every time."""
        symbol = self.bot.symbol
        for _ in range(SEED_ATTEMPTS):
            record = await self.client.positions(symbol, self.tag)
            try:
                reports = await self.client.subscribe_executions(
                    [symbol], from_seq={symbol: record.as_of_seq + 1}
                )
            except HistoryUnavailableError:
                continue  # evicted between the two reads: a busy book; read the record again
            self.portfolio.seed(symbol, record.book(self.tag))
            self.seeded = record.complete
            if not record.complete:
                log.warning("%s: the exchange's record lacks early fills: position partial",
                            self.tag)  # fmt: skip
            return reports
        log.warning("%s: could not seed the position: it counts this run only", self.tag)
        return await self.client.subscribe_executions([symbol])

    async def _catch_up(self, following: asyncio.Task[None]) -> None:
        """Read the stream up to the marker: history (and predecessors' orders) known."""
        self._marker_seq = await mark(self.client, self.bot.symbol)
        while self._read_seq < self._marker_seq and not following.done():
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._changed.wait()

    async def _restart(self) -> None:
        """Adopt or cancel what earlier runs left open (known from history, else listed)."""
        symbol = self.bot.symbol
        for found in await self.client.open_orders(symbol):
            if found.client_order_id.startswith(self.prefix) and (
                self.orders.get(symbol, found.order_id) is None
            ):
                order = Order(
                    found.client_order_id,
                    symbol,
                    found.side or Side.BUY,
                    found.remaining_qty,
                    found.price,
                    found.type or OrderType.LIMIT,
                    state=OrderState.NEW,
                    order_id=found.order_id,
                )
                self._deliver(self.orders.adopt(order))
        if self.on_restart == "cancel":
            await self._cancel_live()

    # -- trading --------------------------------------------------------------------

    async def _trade(self, spec: InstrumentSpec, stop: asyncio.Event) -> BotStats:
        """The bot's loop: look at the market, act, wait for the next tick or the stop."""
        while not stop.is_set():
            for action in self.bot.generate_orders(self.view(spec)):
                if stop.is_set():
                    break
                await self._do(action)
            self.orders.forget_done()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancel
            # that lands as ``stop`` is set, and the bot would never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.bot.interval):
                    await stop.wait()
        return self.stats

    async def _do(self, action: BotAction) -> None:
        symbol = self.bot.symbol
        if isinstance(action, Place):
            await self._place(action)
            return
        order = self.orders.get(symbol, action.order_id)
        if order is None:
            self.stats.errors += 1
            log.debug("%s: %s names no order of this bot", self.tag, action)
            return
        try:
            if isinstance(action, Cancel):
                self.stats.cancels += 1
                self._deliver(self.orders.pending_cancel(order))
                result = await self.client.cancel_order(symbol, order.order_id)
                self._deliver(self.orders.on_cancel(order, result))
            else:
                self.stats.replaces += 1
                grows = (action.qty or order.open_qty) - order.open_qty
                if grows > 0 and not self._within_limit(order.side, grows):
                    self._refuse_change(order, "replace would breach max_position")
                    return
                result = await self.client.amend_order(
                    symbol, order.order_id, qty=action.qty, price=action.price
                )
                new = Order(
                    order.client_order_id,
                    symbol,
                    order.side,
                    order.qty,
                    action.price if action.price is not None else order.price,
                    order.type,
                    order_id=order.order_id,
                )
                self._deliver(self.orders.on_amend(new, result))
        except DomeError as exc:
            self.stats.errors += 1
            log.debug("%s: %s failed: %s", self.tag, action, exc)
            return
        if result.rejected and result.reject_reason is not None:
            self._count_reject(result.reject_reason.name)

    async def _place(self, action: Place) -> None:
        self._ids += 1
        order = Order(
            f"{self.prefix}{self.run_id}-{self._ids}",
            self.bot.symbol,
            action.side,
            action.qty,
            action.price,
            action.type,
        )
        if not self._within_limit(action.side, action.qty):
            self.stats.risk_refusals += 1
            limit = self.bot.max_position
            self._deliver(self.orders.refused(order, None, f"would breach max_position {limit}"))
            return
        self.stats.orders += 1
        self._deliver(self.orders.pending_new(order))
        try:
            result = await self.client.submit_order(
                order.symbol,
                order.side,
                order.qty,
                order.price,
                order.type,
                client_order_id=order.client_order_id,
            )
        except (OrderValueError, UnknownSymbolError) as exc:
            # Judged before sending: the same reject the exchange would have given.
            reason = exc.reason if isinstance(exc, OrderValueError) else RejectReason.UNKNOWN_SYMBOL
            self._deliver(self.orders.refused(order, reason, str(exc)))
            self._count_reject(reason.name)
            return
        except DomeError as exc:
            self.stats.errors += 1
            self._deliver(self.orders.refused(order, None, f"submit failed: {exc}"))
            return
        self._deliver(self.orders.on_submit(order, result))
        self._changed.set()
        if result.rejected and result.reject_reason is not None:
            self._count_reject(result.reject_reason.name)

    def _within_limit(self, side: Side, qty: Decimal) -> bool:
        """Whether ``qty`` more on ``side`` keeps the worst case inside the limit."""
        limit = self.bot.max_position
        if limit is None:
            return True
        symbol = self.bot.symbol
        position = self.position
        if side is Side.BUY:
            return position + self.orders.exposure(symbol, Side.BUY) + qty <= limit
        return position - self.orders.exposure(symbol, Side.SELL) - qty >= -limit

    def _refuse_change(self, order: Order, message: str) -> None:
        self.stats.risk_refusals += 1
        rejected = dataclasses.replace(order, reject_message=message)
        self._deliver([OrderRejected(rejected, order.state)])

    def _count_reject(self, reason: str | None) -> None:
        if reason is None:
            return
        self.stats.rejects += 1
        key = reason.lower()
        self.stats.by_reason[key] = self.stats.by_reason.get(key, 0) + 1

    # -- stop -----------------------------------------------------------------------

    async def _cancel_live(self) -> None:
        symbol = self.bot.symbol
        for order in self.orders.live(symbol):
            if not order.order_id or order.state.final:
                continue
            self._deliver(self.orders.pending_cancel(order))
            try:
                result = await self.client.cancel_order(symbol, order.order_id)
            except DomeError as exc:
                log.debug("%s: cancel of %s failed: %s", self.tag, order.order_id, exc)
                continue
            self._deliver(self.orders.on_cancel(order, result))

    async def _drain(self, within: float) -> None:
        """Cancel what is open; read on until every order is done or ``within`` passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._cancel_live()
        symbol = self.bot.symbol
        while self.orders.live(symbol) and loop.time() < deadline:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(deadline - loop.time(), 0.01)):
                    await self._changed.wait()
        left = self.orders.live(symbol)
        if left:
            log.warning("%s: stopped with %d orders not settled: %s", self.tag, len(left), left)

    # -- streams --------------------------------------------------------------------

    #: Where the execution stream is: the last seq read and how many reports of it.
    _read_seq = 0
    _read_count = 0
    #: The start marker's seq (0 until known): reports up to it are history.
    _marker_seq = 0

    def _on_report(self, report: Execution) -> None:
        if report.seq == self._read_seq:
            self._read_count += 1
        elif report.seq > self._read_seq:
            self._read_seq, self._read_count = report.seq, 1
        if report.client_order_id.startswith(self.prefix):
            if not self.orders.knows(report.client_order_id):
                self.orders.adopt(Order.of_report(report))
            # History read at the start is booked, not told: the bot did not live it.
            told = 0 < self._marker_seq < report.seq
            self._deliver(self.orders.on_report(report), told=told)
        self._changed.set()

    def _deliver(self, events: list[OrderEvent], *, told: bool = True) -> None:
        if not told:
            return
        for event in events:
            if isinstance(event, OrderFilled):
                self.stats.fills += 1
                self.stats.trades += 1
                if not event.fill.maker:
                    self.stats.taker_fills += 1
            deliver(self.bot, event)

    async def _follow_executions(self, reports: AsyncIterator[Execution]) -> None:
        first: list[AsyncIterator[Execution]] = [reports]

        async def follow() -> AsyncGenerator[None, None]:
            # The subscription made at the start, then fresh ones from where it was.
            stream = first.pop() if first else None
            if stream is None:
                symbol = self.bot.symbol
                resume = {symbol: (self._read_seq, self._read_count)}
                stream = await self.client.subscribe_executions([symbol], resume=resume)
            async for report in stream:
                self._on_report(report)
                yield

        await self._keep_following("executions", follow)

    async def _follow_book(self) -> None:
        async def follow() -> AsyncGenerator[None, None]:
            async for book in self.client.book_updates(self.bot.symbol, depth=self.depth):
                self._bids = tuple(book.bids(self.depth))
                self._asks = tuple(book.asks(self.depth))
                yield

        await self._keep_following("book", follow)

    async def _follow_trades(self) -> None:
        async def follow() -> AsyncGenerator[None, None]:
            async for trade in self.client.trades_stream(self.bot.symbol):
                self._trades.append(trade)
                yield

        await self._keep_following("trades", follow)

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
