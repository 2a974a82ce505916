"""The engine node's domain side: one market, sequencer and feed per symbol.

Servicers hand it decoded wire messages and get wire answers back; everything between
(decode, sequence, apply, derive reports and market data, count) happens here or in
the stages it wires together. It knows nothing of gRPC contexts or status codes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from dome.core.commands import AmendOrder, CancelOrder, NewOrder
from dome.core.events import OrderRejected
from dome.core.market import DEFAULT_DEDUP_WINDOW, Market
from dome.core.outcome import outcome
from dome.core.types import OrderStatus, RejectReason, Side
from dome.engine import codec
from dome.engine.books import BookFactory, default_book_factory
from dome.engine.errors import NotFound
from dome.engine.feeds import DEFAULT_BUFFER, Topic
from dome.engine.market_feed import MarketFeed
from dome.engine.metrics import EngineMetrics, SymbolMetrics
from dome.engine.reports import ExecutionReporter
from dome.engine.requests import Request
from dome.engine.sequencer import Applied, Sequencer
from dome.instruments import InstrumentSpec
from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr


@dataclass
class SymbolState:
    """Everything the node keeps for one symbol."""

    spec: InstrumentSpec
    market: Market
    sequencer: Sequencer
    feed: MarketFeed
    reporter: ExecutionReporter
    metrics: SymbolMetrics


@dataclass(frozen=True)
class NodeLimits:
    """Sizes that bound the node's memory."""

    dedup_window: int = DEFAULT_DEDUP_WINDOW
    stream_buffer: int = DEFAULT_BUFFER
    max_pending: int = 100_000
    trade_ring: int = 1_000


async def _ready(value: tr.OrderResult) -> tr.OrderResult:
    return value


class EngineNode:
    """Markets of every configured symbol, fed by their sequencers."""

    def __init__(
        self,
        specs: Iterable[InstrumentSpec],
        metrics: EngineMetrics,
        *,
        limits: NodeLimits = NodeLimits(),
        book_factory: BookFactory | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.metrics = metrics
        self.executions: Topic[str, tr.ExecutionReport] = Topic(limits.stream_buffer)
        factory = book_factory or default_book_factory()
        self.symbols: dict[str, SymbolState] = {}
        for spec in specs:
            market = Market(factory(spec.to_core()), limits.dedup_window)
            state = SymbolState(
                spec=spec,
                market=market,
                sequencer=None,  # type: ignore[arg-type]  # set just below: it needs state
                feed=MarketFeed(spec, market.book, limits.stream_buffer, limits.trade_ring),
                reporter=ExecutionReporter(spec, self.executions),
                metrics=metrics.for_symbol(spec.symbol),
            )
            state.sequencer = Sequencer(
                market,
                self._publisher(state),
                clock_ns=clock_ns,
                max_pending=limits.max_pending,
            )
            self.symbols[spec.symbol] = state
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start every sequencer (needs a running event loop)."""
        self._tasks = [
            asyncio.create_task(s.sequencer.run(), name=f"sequencer-{name}")
            for name, s in self.symbols.items()
        ]

    async def stop(self) -> None:
        """Apply what is queued, then stop the sequencers."""
        for s in self.symbols.values():
            s.sequencer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------- commands

    def symbol(self, name: str) -> SymbolState:
        """The state of ``name``; ``NotFound`` if not traded here."""
        state = self.symbols.get(name)
        if state is None:
            raise NotFound(f"unknown symbol {name!r}")
        return state

    def submit(
        self, account: str, actions: Sequence[tr.OrderAction]
    ) -> list[Awaitable[tr.OrderResult]]:
        """Decode and queue ``actions`` in order; one awaitable result per action.

        Requests refused at the edge (unknown symbol, bad enum, off-grid decimal) are
        answered at once and never reach a sequencer.
        """
        answers: list[Awaitable[tr.OrderResult] | None] = [None] * len(actions)
        queued: dict[str, tuple[SymbolState, list[int], list[Request]]] = {}
        for i, action in enumerate(actions):
            kind = action.WhichOneof("action")
            if kind is None:
                # An empty action names no command; it is answered like an unknown type.
                answers[i] = _ready(codec.rejected("", RejectReason.INVALID_ORDER_TYPE))
                continue
            msg: tr.SubmitOrderRequest | tr.CancelOrderRequest | tr.AmendOrderRequest
            msg = getattr(action, kind)
            coid = action.submit.client_order_id if kind == "submit" else ""
            state = self.symbols.get(msg.symbol)
            if state is None:
                answers[i] = _ready(codec.rejected(msg.symbol, RejectReason.UNKNOWN_SYMBOL, coid))
                continue
            try:
                request = self._decode(state, account, action, kind)
            except codec.EdgeReject as exc:
                order_id = 0 if kind == "submit" else getattr(msg, "order_id", 0)
                answers[i] = _ready(codec.rejected(state.spec.symbol, exc.reason, coid, order_id))
                self._count_edge_reject(state, kind, action, exc.reason)
                continue
            slot = queued.setdefault(state.spec.symbol, (state, [], []))
            slot[1].append(i)
            slot[2].append(request)
        for state, indexes, requests in queued.values():
            futures = state.sequencer.submit(requests)
            for i, future in zip(indexes, futures, strict=True):
                answers[i] = self._answer(state, future)
        return [a for a in answers if a is not None]

    def submit_one(self, account: str, action: tr.OrderAction) -> Awaitable[tr.OrderResult]:
        """``submit`` for a single action."""
        return self.submit(account, [action])[0]

    @staticmethod
    def _decode(state: SymbolState, account: str, action: tr.OrderAction, kind: str) -> Request:
        if kind == "submit":
            return codec.decode_submit(state.spec, account, action.submit)
        if kind == "cancel":
            return codec.decode_cancel(account, action.cancel)
        return codec.decode_amend(state.spec, account, action.amend)

    def _count_edge_reject(
        self, state: SymbolState, kind: str, action: tr.OrderAction, reason: RejectReason
    ) -> None:
        label = "cancel" if kind == "cancel" else "amend" if kind == "amend" else None
        if label is None:
            label = _TYPE_LABELS.get(action.submit.type, "limit")
        state.metrics.order(label, "rejected").inc()
        state.metrics.reject(reason).inc()

    async def _answer(self, state: SymbolState, future: asyncio.Future[Applied]) -> tr.OrderResult:
        applied = await future
        events = applied.result.events
        cmd = applied.cmd
        first = events[0] if events else None
        order_id = getattr(first, "order_id", cmd.order_id)
        status = None
        if type(cmd) is AmendOrder and state.reporter.has_traded(order_id):
            status = OrderStatus.PARTIALLY_FILLED if not isinstance(first, OrderRejected) else None
        return codec.order_result(
            state.spec, order_id, applied.client_order_id, events, applied.result.duplicate, status
        )

    # -------------------------------------------------------------------- queries

    def open_orders(self, account: str, symbol: str) -> tr.ListOpenOrdersResponse:
        """The account's resting orders on ``symbol``, in book priority order."""
        state = self.symbol(symbol)
        spec = state.spec
        out = tr.ListOpenOrdersResponse(symbol=symbol)
        for o in state.market.book.orders():
            if o.account != account:
                continue
            partly = o.remaining < o.qty or state.reporter.has_traded(o.order_id)
            out.orders.append(
                tr.OpenOrder(
                    order_id=o.order_id,
                    client_order_id=o.client_order_id,
                    side=pb.Side.ValueType(o.side),
                    price=spec.ticks_to_price(o.price),
                    qty=spec.lots_to_qty(o.qty),
                    remaining_qty=spec.lots_to_qty(o.remaining),
                    status=pb.OrderStatus.ValueType(
                        OrderStatus.PARTIALLY_FILLED if partly else OrderStatus.NEW
                    ),
                    type=pb.OrderType.ValueType(o.order_type),
                )
            )
        return out

    # ------------------------------------------------------------------ publishing

    def _publisher(self, state: SymbolState) -> Callable[[Sequence[Applied], float], None]:
        def publish(batch: Sequence[Applied], match_seconds: float) -> None:
            state.reporter.on_batch(batch)
            trades = state.feed.on_batch(batch, state.market.last_seq)
            _count(state, batch, match_seconds, trades)

        return publish


_TYPE_LABELS = {1: "limit", 2: "market", 3: "ioc", 4: "fok", 5: "post_only"}


def _count(state: SymbolState, batch: Sequence[Applied], match_seconds: float, trades: int) -> None:
    """Metrics of one batch."""
    m = state.metrics
    m.batch_size.observe(len(batch))
    m.match_seconds.observe(match_seconds)
    m.sequence.set(state.market.last_seq)
    if trades:
        m.trades.inc(trades)
    levels = state.feed.levels
    m.bid_levels.set(len(levels[Side.BUY]))
    m.ask_levels.set(len(levels[Side.SELL]))
    for applied in batch:
        cmd = applied.cmd
        if applied.result.duplicate:
            m.duplicates.inc()
            continue
        if type(cmd) is NewOrder:
            label = _TYPE_LABELS.get(int(cmd.order_type), "limit")
        else:
            label = "cancel" if type(cmd) is CancelOrder else "amend"
        result = outcome(cmd.order_id, applied.result.events)
        m.order(label, result.status.name.lower()).inc()
        if result.status == OrderStatus.REJECTED:
            m.reject(result.reject_reason).inc()
