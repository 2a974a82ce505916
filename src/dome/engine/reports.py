"""Execution reports: what each account is told about its own orders.

Every event goes to the account(s) it concerns (both maker and taker of a trade), each
report chained by ``prev_seq`` per (account, symbol) so a subscriber sees a gap. The
chain advances whether or not anyone listens, so it is the same for every subscriber;
messages are only built for accounts with an open stream.

Events name orders by id only, so this stage remembers the client order id (and
whether it has traded) of every resting order, to put them on maker reports.

Every report is also kept, for every account, in a bounded per-symbol history of
compact tuples (a protobuf is built only when one is sent), so a subscriber arriving
from a dead replica can resume from any sequence the history still holds
(``replay``). The history is a function of the applied commands alone, so it is the
same on every replica; the chain and resting map go into snapshots (``state``), with
the positions the trades make (``dome.engine.ledger``), which outlive the history.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from dome.core.commands import NewOrder
from dome.core.events import OrderAmended, OrderCancelled, OrderRejected, OrderRested, Trade
from dome.core.types import OrderStatus, RejectReason, Side
from dome.engine.applier import Applied
from dome.engine.codec import Units
from dome.engine.errors import OutOfRange
from dome.engine.feeds import Topic
from dome.engine.ledger import PositionLedger
from dome.engine.order_memory import OrderMemory
from dome.instrument_spec import InstrumentSpec
from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr

_NEW = tr.ExecType.ValueType(tr.EXEC_TYPE_NEW)
_TRADE = tr.ExecType.ValueType(tr.EXEC_TYPE_TRADE)
_CANCELLED = tr.ExecType.ValueType(tr.EXEC_TYPE_CANCELLED)
_AMENDED = tr.ExecType.ValueType(tr.EXEC_TYPE_AMENDED)
_REJECTED = tr.ExecType.ValueType(tr.EXEC_TYPE_REJECTED)

ReportTopic = Topic[str, tr.ExecutionReport]

#: Reports kept per symbol for resuming streams (all accounts together).
DEFAULT_HISTORY = 100_000

#: One report as kept in the history: the arguments of ``ExecutionReporter._send`` in
#: order (account, seq, prev_seq, ts, exec type, order id, client order id, side,
#: status, price, remaining, fill, cancelled, reject reason).
Record = tuple[Any, ...]


#: The maker's side of a trade, by the aggressor's.
_OTHER = {Side.BUY: Side.SELL, Side.SELL: Side.BUY}
_FILLED = OrderStatus.FILLED
_PARTLY = OrderStatus.PARTIALLY_FILLED


class ExecutionReporter:
    """Turns one symbol's applied batches into execution reports."""

    def __init__(
        self,
        spec: InstrumentSpec,
        topic: ReportTopic,
        units: Units | None = None,
        history: int = DEFAULT_HISTORY,
    ) -> None:
        self.spec = spec
        self._units = units or Units(spec)
        self._topic = topic
        self._prev: dict[str, int] = {}
        #: order id -> [client order id, has traded], for orders on the book.
        self._resting: dict[int, list[object]] = {}
        self._history: deque[Record] = deque(maxlen=max(1, history))
        #: Reports of seqs up to this one may be missing from the history (evicted, or
        #: from before a restored snapshot); those after it are all there.
        self._floor = 0
        #: Seq of the last command this reporter has seen.
        self._seq = 0
        #: Accepted orders, closed ones too: refines rejects before this reports them
        #: (its ``publish`` is the sink before this one), and is snapshotted with it.
        self.orders = OrderMemory()
        #: Every account's positions, fed with the trades reported (``dome.engine.ledger``).
        self.ledger = PositionLedger(self._units)

    # ------------------------------------------------------------------ snapshots

    def state(self) -> dict[str, Any]:
        """What a snapshot must hold to report on exactly like this reporter (JSON-able)."""
        return {
            "seq": self._seq,
            "prev_seq": dict(sorted(self._prev.items())),
            "resting": [
                [order_id, str(entry[0]), bool(entry[1])]
                for order_id, entry in sorted(self._resting.items())
            ],
            "orders": self.orders.state(),
            "positions": self.ledger.state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from ``state()``; the history restarts empty after its seq."""
        self._seq = int(state["seq"])
        self._prev = {str(k): int(v) for k, v in state["prev_seq"].items()}
        self._resting = {int(o): [str(c), bool(t)] for o, c, t in state["resting"]}
        self.orders.restore(state.get("orders", []))
        self.ledger.restore(state.get("positions"), self._seq)
        self._history.clear()
        self._floor = self._seq

    # --------------------------------------------------------------------- resume

    @property
    def seq(self) -> int:
        """Seq of the last command reported on: the ledger holds every fill up to it."""
        return self._seq

    @property
    def first_held_seq(self) -> int:
        """The oldest seq from which every report is held (``replay`` accepts it)."""
        return self._floor + 1

    def replay(self, account: str, from_seq: int) -> list[Record]:
        """The account's held reports with seq >= ``from_seq``, in their original order.

        ``OutOfRange`` if some may have been dropped already. The records are taken
        now (O(history)); build messages from them with ``message``. Called with no
        await after subscribing to the topic, the records and the live reports meet
        with nothing missed and nothing repeated.
        """
        if max(from_seq, 1) <= self._floor:
            raise OutOfRange(
                f"{self.spec.symbol}: reports before seq {self._floor + 1} are no longer "
                f"held here (asked from seq {from_seq}); resubscribe without from_seq"
            )
        return [r for r in self._history if r[1] >= from_seq and r[0] == account]

    def page(self, account: str, from_seq: int, limit: int) -> tuple[list[Record], int]:
        """Up to ``limit`` of the account's held reports from ``from_seq`` (0: the oldest
        held), and the seq the next page starts at (0: none yet).

        A page ends between seqs, never inside one (a command may make several reports
        for one account), so asking from the returned seq repeats and skips nothing; a
        single seq with more than ``limit`` reports comes whole. ``OutOfRange`` as
        ``replay``.
        """
        records = self.replay(account, from_seq or self.first_held_seq)
        if len(records) <= limit:
            return records, 0
        boundary = records[limit][1]
        cut = limit
        while cut and records[cut - 1][1] == boundary:
            cut -= 1
        if cut == 0:
            while cut < len(records) and records[cut][1] == boundary:
                cut += 1
        return records[:cut], records[cut][1] if cut < len(records) else 0

    def message(self, record: Record) -> tr.ExecutionReport:
        """The wire report of one history record."""
        (_, seq, prev, ts, exec_type, order_id, coid, side, status, price, remaining, fill,
         cancelled, reason) = record  # fmt: skip
        units = self._units
        report = tr.ExecutionReport(
            symbol=self.spec.symbol,
            seq=seq,
            prev_seq=prev,
            timestamp_ns=ts,
            exec_type=exec_type,
            order_id=order_id,
            client_order_id=coid,
            side=pb.Side.ValueType(side or 0),
            status=pb.OrderStatus.ValueType(status),
            price=units.price(price) if price else "",
            remaining_qty=units.qty(remaining),
            cancelled_qty=units.qty(cancelled) if cancelled else "",
            reject_reason=pb.RejectReason.ValueType(reason),
        )
        if fill is not None:
            trade_id, fill_price, qty, maker = fill
            report.fill.CopyFrom(
                pb.Fill(
                    trade_id=trade_id,
                    price=units.price(fill_price),
                    qty=units.qty(qty),
                    maker=maker,
                )
            )
        return report

    def client_order_id(self, order_id: int) -> str:
        """The client order id of a resting order ("" if unknown)."""
        entry = self._resting.get(order_id)
        return str(entry[0]) if entry else ""

    def has_traded(self, order_id: int) -> bool:
        """Whether a resting order has been partly filled."""
        entry = self._resting.get(order_id)
        return bool(entry and entry[1])

    def publish(self, batch: Sequence[Applied], match_seconds: float | None) -> None:
        """The report sink (``dome.engine.applier.Sink``): every replica reports alike."""
        self.on_batch(batch)

    def on_batch(self, batch: Sequence[Applied]) -> None:
        """Report every event of ``batch``; annotate each with its order's client id."""
        for applied in batch:
            cmd = applied.cmd
            if type(cmd) is NewOrder:
                applied.client_order_id = cmd.client_order_id
            else:
                coid = self.client_order_id(cmd.order_id)
                if not coid and (owner := self.orders.owner(cmd.order_id)) is not None:
                    coid = owner[1] if owner[0] == cmd.account else ""
                applied.client_order_id = coid
            if not applied.result.duplicate:
                self._report(applied)
        self.ledger.fold()
        if batch:
            self._seq = batch[-1].cmd.seq

    def _report(self, applied: Applied) -> None:
        cmd = applied.cmd
        ts = cmd.timestamp_ns
        coid = applied.client_order_id
        resting = self._resting
        send = self._send
        fill = self.ledger.fill
        traded = False
        for ev in applied.result.events:
            kind = type(ev)
            if kind is Trade:
                assert isinstance(ev, Trade)
                traded = True
                maker = resting.get(ev.maker_order_id)
                maker_coid = str(maker[0]) if maker else ""
                if ev.maker_remaining == 0:
                    resting.pop(ev.maker_order_id, None)
                elif maker:
                    maker[1] = True
                if ev.taker_remaining == 0:
                    resting.pop(ev.taker_order_id, None)
                price, qty = ev.price, ev.qty
                maker_side = _OTHER[ev.aggressor]
                fill(ev.maker_account, maker_coid, maker_side, price, qty, True)
                fill(ev.taker_account, coid, ev.aggressor, price, qty, False)
                send(ev.maker_account, ev.seq, ts, _TRADE, ev.maker_order_id, maker_coid,
                     maker_side, _PARTLY if ev.maker_remaining else _FILLED, price,
                     ev.maker_remaining, (ev.trade_id, price, qty, True))  # fmt: skip
                send(ev.taker_account, ev.seq, ts, _TRADE, ev.taker_order_id, coid,
                     ev.aggressor, _PARTLY if ev.taker_remaining else _FILLED,
                     _taker_price(cmd, price), ev.taker_remaining,
                     (ev.trade_id, price, qty, False))  # fmt: skip
            elif kind is OrderRested:
                assert isinstance(ev, OrderRested)
                entry = resting.get(ev.order_id)
                traded = traded or bool(entry and entry[1])
                resting[ev.order_id] = [coid, traded]
                status = OrderStatus.PARTIALLY_FILLED if traded else OrderStatus.NEW
                send(ev.account, ev.seq, ts, _NEW, ev.order_id, coid, ev.side, status,
                     ev.price, ev.remaining)  # fmt: skip
            elif kind is OrderCancelled:
                assert isinstance(ev, OrderCancelled)
                entry = resting.pop(ev.order_id, None)
                ev_coid = str(entry[0]) if entry else coid
                send(ev.account, ev.seq, ts, _CANCELLED, ev.order_id, ev_coid, ev.side,
                     OrderStatus.CANCELLED, ev.price, 0, None, ev.cancelled_qty)  # fmt: skip
            elif kind is OrderAmended:
                assert isinstance(ev, OrderAmended)
                status = (
                    OrderStatus.PARTIALLY_FILLED
                    if self.has_traded(ev.order_id)
                    else OrderStatus.NEW
                )
                send(ev.account, ev.seq, ts, _AMENDED, ev.order_id, coid, ev.side, status,
                     ev.new_price, ev.new_remaining)  # fmt: skip
            elif kind is OrderRejected:
                assert isinstance(ev, OrderRejected)
                side = cmd.side if type(cmd) is NewOrder else None
                price = cmd.price if type(cmd) is NewOrder else 0
                send(ev.account, ev.seq, ts, _REJECTED, ev.order_id, coid, side,
                     OrderStatus.REJECTED, price, 0, None, 0, ev.reason)  # fmt: skip

    def _send(
        self,
        account: str,
        seq: int,
        ts: int,
        exec_type: tr.ExecType.ValueType,
        order_id: int,
        coid: str,
        side: Side | None,
        status: OrderStatus,
        price: int,
        remaining: int,
        fill: tuple[int, int, int, bool] | None = None,
        cancelled: int = 0,
        reason: RejectReason = RejectReason.NONE,
    ) -> None:
        prev = self._prev.get(account, 0)
        self._prev[account] = seq
        record = (account, seq, prev, ts, exec_type, order_id, coid, side, status, price,
                  remaining, fill, cancelled, reason)  # fmt: skip
        history = self._history
        if len(history) == history.maxlen:
            self._floor = history[0][1]
        history.append(record)
        if self._topic.has(account):
            self._topic.publish(account, self.message(record))


def _taker_price(cmd: object, trade_price: int) -> int:
    """The taker's own limit price where it has one (a market order reports the trade's)."""
    price = getattr(cmd, "price", 0)
    return int(price) if price else trade_price
