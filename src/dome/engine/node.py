"""The engine node's domain side: one market, sequencer and feed per symbol.

Servicers hand it decoded wire messages and get wire answers back; everything between
(decode, sequence, apply, derive reports and market data, count) happens here or in
the stages it wires together. It knows nothing of gRPC contexts or status codes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dome.core.commands import AmendOrder, CancelOrder, NewOrder
from dome.core.events import OrderRejected
from dome.core.market import DEFAULT_DEDUP_WINDOW
from dome.core.outcome import outcome
from dome.core.types import OrderStatus, RejectReason, Side
from dome.cores import MarketCore, MarketFactory, select_core
from dome.engine import answers as answer_rows
from dome.engine import codec
from dome.engine.answers import Answer
from dome.engine.applier import Applied, Applier
from dome.engine.errors import NotFound, Unavailable
from dome.engine.feeds import DEFAULT_BUFFER, Topic
from dome.engine.forwarding import Forwarder
from dome.engine.market_feed import MarketFeed
from dome.engine.metrics import EngineMetrics, SymbolMetrics
from dome.engine.replica import Replica
from dome.engine.reports import ExecutionReporter
from dome.engine.requests import CancelRequest, Request
from dome.engine.sequencer import Sequencer
from dome.instrument_spec import InstrumentSpec
from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr


@dataclass
class SymbolState:
    """Everything the node keeps for one symbol."""

    spec: InstrumentSpec
    units: codec.Units
    applier: Applier
    sequencer: Sequencer
    feed: MarketFeed
    reporter: ExecutionReporter
    counter: BatchCounter
    metrics: SymbolMetrics
    #: The symbol's log and replication role; None on a standalone engine.
    replica: Replica | None = None

    @property
    def market(self) -> MarketCore:
        """The symbol's market now (a follower's is replaced by a snapshot install)."""
        return self.applier.market

    def rewire(self) -> None:
        """Register this symbol's publish stages with its applier, in order: the order
        memory (which refines rejects the book cannot tell apart), reports (which
        annotate each command with its order's client id), market data, then metrics
        (which summarise each command's outcome for the answer). Called again whenever
        one of them is replaced."""
        self.applier.sinks = [
            self.reporter.orders.publish,
            self.reporter.publish,
            self.feed.publish,
            self.counter.publish,
        ]


@dataclass(frozen=True)
class NodeLimits:
    """Sizes that bound the node's memory."""

    dedup_window: int = DEFAULT_DEDUP_WINDOW
    stream_buffer: int = DEFAULT_BUFFER
    max_pending: int = 100_000
    #: Commands one account may have queued per symbol (``Sequencer``: fairness).
    max_pending_per_account: int = 20_000
    trade_ring: int = 10_000


#: Answers of one ``submit``: a slot per action, filled at once (refused at the edge) or
#: when the symbol's sequencer has applied its part.
Slots = list[Answer | None]


class EngineNode:
    """Markets of every configured symbol, fed by their sequencers."""

    def __init__(
        self,
        specs: Iterable[InstrumentSpec],
        metrics: EngineMetrics,
        *,
        limits: NodeLimits = NodeLimits(),
        market_factory: MarketFactory | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        markets: Mapping[str, MarketCore] | None = None,
    ) -> None:
        self.metrics = metrics
        #: Sends actions for symbols this engine does not lead to their primary.
        self.forwarder: Forwarder | None = None
        self.executions: Topic[str, tr.ExecutionReport] = Topic(limits.stream_buffer)
        factory = market_factory or select_core().market_factory
        self._limits = limits
        self.symbols: dict[str, SymbolState] = {}
        for spec in specs:
            market = (markets or {}).get(spec.symbol) or factory(
                spec.to_core(), limits.dedup_window
            )
            units = codec.Units(spec)
            applier = Applier(market)
            feed = MarketFeed(
                spec, market.book, limits.stream_buffer, limits.trade_ring, units=units
            )
            symbol_metrics = metrics.for_symbol(spec.symbol)
            state = SymbolState(
                spec=spec,
                units=units,
                applier=applier,
                sequencer=Sequencer(
                    applier,
                    clock_ns=clock_ns,
                    max_pending=limits.max_pending,
                    max_pending_per_account=limits.max_pending_per_account,
                ),
                feed=feed,
                reporter=ExecutionReporter(spec, self.executions, units=units),
                counter=BatchCounter(symbol_metrics, market, feed),
                metrics=symbol_metrics,
            )
            state.rewire()
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

    def replace_market(self, symbol: str, market: MarketCore, extra: dict[str, Any]) -> None:
        """Swap in a market restored from a snapshot (a follower resynchronising).

        Derived stages start over from the snapshot; subscribers stay subscribed and see
        the jump as a gap in sequence numbers, which makes them resynchronise.
        """
        state = self.symbol(symbol)
        old_feed = state.feed
        state.applier.market = market
        state.feed = MarketFeed(
            state.spec,
            market.book,
            self._limits.stream_buffer,
            self._limits.trade_ring,
            units=state.units,
        )
        state.feed.book_topic = old_feed.book_topic
        state.feed.trade_topic = old_feed.trade_topic
        state.reporter = ExecutionReporter(state.spec, self.executions, units=state.units)
        if extra.get("reports"):
            state.reporter.restore(extra["reports"])
        state.counter = BatchCounter(state.metrics, market, state.feed)
        state.rewire()

    # ------------------------------------------------------------------- commands

    def symbol(self, name: str) -> SymbolState:
        """The state of ``name``; ``NotFound`` if not traded here."""
        state = self.symbols.get(name)
        if state is None:
            raise NotFound(f"unknown symbol {name!r}")
        return state

    def submit(
        self, account: str, actions: Sequence[tr.OrderAction], *, forwarded: bool = False
    ) -> Awaitable[list[tr.OrderResult]]:
        """``submit_answers``, answered as ``OrderResult`` messages."""
        return self._messages(self.submit_answers(account, actions, forwarded=forwarded))

    @staticmethod
    async def _messages(answers: Awaitable[list[Answer]]) -> list[tr.OrderResult]:
        return [answer_rows.message(a) for a in await answers]

    def submit_answers(
        self, account: str, actions: Sequence[tr.OrderAction], *, forwarded: bool = False
    ) -> Awaitable[list[Answer]]:
        """Decode and queue ``actions`` in order; await the result for one answer per action
        (``dome.engine.answers.Answer`` rows, which ``SubmitOrders`` encodes in one call).

        Queuing happens now, so calls are sequenced in the order they are made. Requests
        refused at the edge (unknown symbol, bad enum, off-grid decimal) are answered at
        once and never reach a sequencer. Each symbol's share is one sequencer batch,
        answered with one future, not a future per order. Actions for a symbol another
        engine leads go to it (unless this call was itself ``forwarded``: then the
        caller hears who leads).
        """
        answers: Slots = [None] * len(actions)
        queued: dict[str, tuple[SymbolState, list[int], list[Request]]] = {}
        remote: dict[str, tuple[str, list[int], list[tr.OrderAction]]] = {}
        # Where each symbol's actions go, decided once per call (a call is admitted at
        # one instant): a symbol's state, or None (unknown), and its primary when
        # another engine leads it ("" when this one may write).
        routes: dict[str, tuple[SymbolState | None, str]] = {}
        decode_submit = codec.decode_submit
        for i, action in enumerate(actions):
            kind = action.WhichOneof("action")
            if kind is None:
                # An empty action names no command; it is answered like an unknown type.
                answers[i] = answer_rows.rejected("", RejectReason.INVALID_ORDER_TYPE)
                continue
            msg: tr.SubmitOrderRequest | tr.CancelOrderRequest | tr.AmendOrderRequest
            msg = action.submit if kind == "submit" else getattr(action, kind)
            symbol = msg.symbol
            route = routes.get(symbol)
            if route is None:
                route = routes[symbol] = self._route(symbol, forwarded)
            state, primary = route
            if state is None:
                coid = "" if kind == "amend" else msg.client_order_id
                answers[i] = answer_rows.rejected(symbol, RejectReason.UNKNOWN_SYMBOL, coid)
                continue
            if primary:
                hop = remote.get(symbol)
                if hop is None:
                    hop = remote[symbol] = (primary, [], [])
                hop[1].append(i)
                hop[2].append(action)
                continue
            try:
                if kind == "submit":
                    request: Request = decode_submit(state.units, account, msg)
                else:
                    request = self._decode(state, account, action, kind)
            except codec.EdgeReject as exc:
                coid = "" if kind == "amend" else msg.client_order_id
                order_id = 0 if kind == "submit" else getattr(msg, "order_id", 0)
                answers[i] = answer_rows.rejected(symbol, exc.reason, coid, order_id)
                self._count_edge_reject(state, kind, action, exc.reason)
                continue
            slot = queued.get(symbol)
            if slot is None:
                slot = queued[symbol] = (state, [], [])
            slot[1].append(i)
            slot[2].append(request)
        waits = [
            (state, indexes, state.sequencer.submit_batch(requests))
            for state, indexes, requests in queued.values()
        ]
        hops = [
            (indexes, self._forward(primary, account, hop_actions))
            for primary, indexes, hop_actions in remote.values()
        ]
        return self._answers(answers, waits, hops)

    def _route(self, symbol: str, forwarded: bool) -> tuple[SymbolState | None, str]:
        """Where ``symbol``'s actions go: (its state or None, the primary to forward to or
        ""); raises ``NotPrimary``/``Unavailable`` when they can go nowhere."""
        state = self.symbols.get(symbol)
        replica = state.replica if state is not None else None
        if replica is None or replica.writable():
            return state, ""
        if forwarded or self.forwarder is None or replica.primary_id in ("", replica.engine_id):
            replica.check_writable()  # raises NotPrimary / Unavailable
        return state, replica.primary_id

    def _forward(
        self, primary: str, account: str, actions: list[tr.OrderAction]
    ) -> Awaitable[list[tr.OrderResult]]:
        assert self.forwarder is not None
        return self.forwarder.forward(primary, account, actions)

    def submit_one(
        self, account: str, action: tr.OrderAction, *, forwarded: bool = False
    ) -> Awaitable[tr.OrderResult]:
        """``submit`` for a single action."""
        return self._first(self.submit(account, [action], forwarded=forwarded))

    @staticmethod
    async def _first(answers: Awaitable[list[tr.OrderResult]]) -> tr.OrderResult:
        (answer,) = await answers
        return answer

    @staticmethod
    def _decode(state: SymbolState, account: str, action: tr.OrderAction, kind: str) -> Request:
        if kind == "submit":
            return codec.decode_submit(state.units, account, action.submit)
        if kind == "cancel":
            cancel = action.cancel
            if cancel.order_id == 0 and cancel.client_order_id:
                # By client order id: resolved here, once, so the log holds a plain
                # cancel and followers replay it without knowing how it was named.
                order_id = state.reporter.orders.order_id_of(account, cancel.client_order_id)
                if order_id == 0:
                    raise codec.EdgeReject(RejectReason.UNKNOWN_ORDER)
                return CancelRequest(account, order_id)
            return codec.decode_cancel(account, cancel)
        return codec.decode_amend(state.units, account, action.amend)

    def _count_edge_reject(
        self, state: SymbolState, kind: str, action: tr.OrderAction, reason: RejectReason
    ) -> None:
        label = "cancel" if kind == "cancel" else "amend" if kind == "amend" else None
        if label is None:
            label = _TYPE_LABELS.get(action.submit.type, "limit")
        state.metrics.order(label, "rejected").inc()
        state.metrics.reject(reason).inc()

    async def _answers(
        self,
        answers: Slots,
        waits: list[tuple[SymbolState, list[int], asyncio.Future[list[Applied]]]],
        hops: list[tuple[list[int], Awaitable[list[tr.OrderResult]]]],
    ) -> list[Answer]:
        for indexes, hop in hops:
            for i, result in zip(indexes, await hop, strict=True):
                answers[i] = answer_rows.of_message(result)
        for state, indexes, future in waits:
            applied = await future
            if len(applied) < len(indexes):
                raise Unavailable(state.sequencer.halted or "not applied")
            for i, done in zip(indexes, applied, strict=True):
                answers[i] = self._answer(state, done)
        return [a for a in answers if a is not None]

    @staticmethod
    def _answer(state: SymbolState, applied: Applied) -> Answer:
        events = applied.result.events
        cmd = applied.cmd
        first = events[0] if events else None
        order_id = getattr(first, "order_id", cmd.order_id)
        status = None
        if type(cmd) is AmendOrder and state.reporter.has_traded(order_id):
            status = OrderStatus.PARTIALLY_FILLED if not isinstance(first, OrderRejected) else None
        # The metrics stage summarised the command already, for the order it addressed.
        summary = applied.outcome
        if summary is not None and summary.order_id != order_id:
            summary = None
        return codec.answer(
            state.units,
            order_id,
            applied.client_order_id,
            events,
            applied.result.duplicate,
            status,
            summary,
        )

    def cancel_all_actions(
        self, account: str, symbol: str
    ) -> tuple[list[str], list[tr.OrderAction]]:
        """A mass cancel expanded: the symbols it covers and one plain cancel per order of
        the account's open on them now.

        ``symbol`` empty covers every symbol this engine may write (all of them on a
        standalone engine); a named one this engine does not lead raises ``NotPrimary``
        (or ``Unavailable``), like any write. Expanded here, at admission, the log holds
        only ordinary cancels, so neither core nor any follower knows of mass cancels.
        """
        if symbol:
            state = self.symbol(symbol)
            if state.replica is not None and not state.replica.writable():
                state.replica.check_writable()
            states = [state]
        else:
            states = [
                s
                for _, s in sorted(self.symbols.items())
                if s.replica is None or s.replica.writable()
            ]
        actions = [
            tr.OrderAction(
                cancel=tr.CancelOrderRequest(symbol=state.spec.symbol, order_id=o.order_id)
            )
            for state in states
            for o in state.market.book.orders()
            if o.account == account
        ]
        return [s.spec.symbol for s in states], actions

    def history(
        self, account: str, symbol: str, from_seq: int, limit: int
    ) -> tr.GetHistoryResponse:
        """One page of the account's reports on ``symbol`` (``ExecutionReporter.page``)."""
        reporter = self.symbol(symbol).reporter
        records, next_from = reporter.page(account, from_seq, limit)
        return tr.GetHistoryResponse(
            symbol=symbol,
            reports=[reporter.message(r) for r in records],
            next_from_seq=next_from,
            first_held_seq=reporter.first_held_seq,
        )

    def positions(self, account: str, symbol: str, book: str) -> tr.GetPositionsResponse:
        """The account's positions on ``symbol`` (every book, or ``book``'s), as of now."""
        reporter = self.symbol(symbol).reporter
        return reporter.ledger.response(symbol, account, book or None, reporter.seq)

    # -------------------------------------------------------------------- queries

    def open_orders(self, account: str, symbol: str) -> tr.ListOpenOrdersResponse:
        """The account's resting orders on ``symbol``, in book priority order."""
        state = self.symbol(symbol)
        units = state.units
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
                    price=units.price(o.price),
                    qty=units.qty(o.qty),
                    remaining_qty=units.qty(o.remaining),
                    status=pb.OrderStatus.ValueType(
                        OrderStatus.PARTIALLY_FILLED if partly else OrderStatus.NEW
                    ),
                    type=pb.OrderType.ValueType(o.order_type),
                )
            )
        return out


_TYPE_LABELS = {1: "limit", 2: "market", 3: "ioc", 4: "fok", 5: "post_only"}


_STATUS_LABELS = {status: status.name.lower() for status in OrderStatus}


class BatchCounter:
    """The metrics sink of one symbol: counters move once per label, not once per order.

    Only the engine that sequenced a batch counts its orders and trades: followers apply
    the same batches, and counting there too would multiply every sum over engines by
    the replication factor. Every replica keeps its sequence and depth gauges.
    """

    def __init__(self, metrics: SymbolMetrics, market: MarketCore, feed: MarketFeed) -> None:
        self._metrics = metrics
        self._market = market
        self._feed = feed
        #: Trade ids count up by one per trade, so a batch traded the difference.
        self._next_trade_id = market.book.next_trade_id

    def publish(self, batch: Sequence[Applied], match_seconds: float | None) -> None:
        """Count one applied batch."""
        m = self._metrics
        m.sequence.set(self._market.last_seq)
        levels = self._feed.levels
        m.bid_levels.set(len(levels[Side.BUY]))
        m.ask_levels.set(len(levels[Side.SELL]))
        next_trade_id = self._market.book.next_trade_id
        trades = next_trade_id - self._next_trade_id
        self._next_trade_id = next_trade_id
        if match_seconds is None:
            return
        m.batch_size.observe(len(batch))
        m.match_seconds.observe(match_seconds)
        if trades:
            m.trades.inc(trades)
        orders: dict[tuple[str, OrderStatus], int] = {}
        rejects: dict[RejectReason, int] = {}
        duplicates = 0
        for applied in batch:
            cmd = applied.cmd
            if applied.result.duplicate:
                duplicates += 1
                continue
            if type(cmd) is NewOrder:
                label = _TYPE_LABELS.get(int(cmd.order_type), "limit")
            else:
                label = "cancel" if type(cmd) is CancelOrder else "amend"
            result = applied.outcome = outcome(cmd.order_id, applied.result.events)
            key = (label, result.status)
            orders[key] = orders.get(key, 0) + 1
            if result.status == OrderStatus.REJECTED:
                rejects[result.reject_reason] = rejects.get(result.reject_reason, 0) + 1
        if duplicates:
            m.duplicates.inc(duplicates)
        for (label, status), n in orders.items():
            m.order(label, _STATUS_LABELS[status]).inc(n)
        for reason, n in rejects.items():
            m.reject(reason).inc(n)
