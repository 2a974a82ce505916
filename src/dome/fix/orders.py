"""One account's orders as its FIX session sees them, and DOME reports as ExecutionReports.

DOME names an order by its exchange order id and the client order id it was placed
with; FIX names it by the ClOrdID of the last accepted request (a cancel or replace
gives it a new one, with the old one as OrigClOrdID) and wants every ExecutionReport to
carry the order's OrderQty, CumQty, LeavesQty and AvgPx. ``Orders`` keeps that view per
account, keyed by the DOME client order id (the ClOrdID of the NewOrderSingle), and
``Orders.on_report`` turns each DOME execution report into the ExecutionReports FIX
expects, as field lists:

- every order gets exactly one acknowledgement (ExecType New) before anything else
  happens to it; DOME reports an order that trades on arrival with its trades first,
  so the acknowledgement is made in front of the first one (its ExecID is the trade's
  with an ``A`` added), and the NEW report for the rest of such an order is not sent
  again;
- a cancel or replace that this session asked for answers with the request's ClOrdID
  and the order's previous one as OrigClOrdID; one that came from elsewhere (an IOC's
  unfilled rest, self-trade prevention, another client of the account) with the
  order's own ClOrdID (a replace from elsewhere as ExecType Restated);
- a DOME reject of a cancel or amend is not an ExecutionReport: the desk answers the
  request with an OrderCancelReject instead.

The ExecID of a report is ``symbol:seq:k``, its k-th report for the account at that
sequence number: the same on every replica and after every restart, so the gateway can
tell a report it has already sent from a new one. Nothing here does I/O; it is a pure
function of the reports and requests applied, which is what makes resuming exact.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from dome.client.models import ExecType, Execution
from dome.core.types import OrderStatus, RejectReason, Side
from dome.fix import tags as t
from dome.fix.requests import NewOrderRequest, ord_rej_reason
from dome.instrument_spec import format_decimal

#: An outgoing message body: (tag, value) in order.
Fields = list[tuple[int, str]]
#: A repeating group of an outgoing message: (its NoXXX tag, one Fields per entry).
Group = tuple[int, list[Fields]]

_ZERO = Decimal(0)
#: AvgPx is rounded to this many decimal places (a quotient need not terminate).
AVG_PX_PLACES = Decimal("1e-12")
_SIDE_CODES = {Side.BUY: t.SIDE_BUY, Side.SELL: t.SIDE_SELL}
_STATUS_CODES = {
    OrderStatus.NEW: t.ORD_STATUS_NEW,
    OrderStatus.PARTIALLY_FILLED: t.ORD_STATUS_PARTIALLY_FILLED,
    OrderStatus.FILLED: t.ORD_STATUS_FILLED,
    OrderStatus.CANCELLED: t.ORD_STATUS_CANCELED,
    OrderStatus.REJECTED: t.ORD_STATUS_REJECTED,
}
#: Liquidity indicator (851): 1 added (the resting order), 2 removed (the taker).
_ADDED, _REMOVED = "1", "2"


def exec_id(symbol: str, seq: int, k: int) -> str:
    """The ExecID of the k-th report (from 0) for one account at ``seq`` of ``symbol``.

    >>> exec_id("BTC-USD", 42, 1)
    'BTC-USD:42:1'
    """
    return f"{symbol}:{seq}:{k}"


def transact_time(timestamp_ns: int) -> str:
    """A FIX UTCTimestamp with milliseconds, from nanoseconds since the epoch (no floats).

    >>> transact_time(1_700_000_000_123_456_789)
    '20231114-22:13:20.123'
    """
    seconds, rest = divmod(timestamp_ns, 1_000_000_000)
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return f"{moment:%Y%m%d-%H:%M:%S}.{rest // 1_000_000:03d}"


@dataclass
class FixOrder:
    """An order of the account, as FIX knows it. Quantities and prices are exact."""

    #: DOME's client order id: the ClOrdID of the NewOrderSingle that placed it.
    coid: str
    #: The ClOrdID FIX names it by now (changed by each cancel or replace).
    cl_ord_id: str
    symbol: str
    side_code: str
    ord_type: str
    time_in_force: str
    exec_inst: str
    order_qty: Decimal
    price: Decimal | None
    order_id: int = 0
    cum_qty: Decimal = _ZERO
    #: Sum of price x quantity of its fills: AvgPx is this over CumQty.
    notional: Decimal = _ZERO
    leaves_qty: Decimal = _ZERO
    status: str = t.ORD_STATUS_NEW
    #: The seq of the last DOME report applied to it.
    last_seq: int = 0
    #: An ExecutionReport (acknowledgement or reject) has been made for it.
    answered: bool = False
    #: A cancel or replace this session asked for and DOME has not reported yet:
    #: "cancel" or "replace", the request's ClOrdID, and a replace's new OrderQty.
    pending: str = ""
    pending_cl_ord_id: str = ""
    pending_qty: Decimal | None = None

    @classmethod
    def of(cls, request: NewOrderRequest, **state: Any) -> FixOrder:
        """The order a NewOrderSingle asks for, in the state ``state`` names."""
        return cls(
            coid=request.cl_ord_id,
            cl_ord_id=request.cl_ord_id,
            symbol=request.symbol,
            side_code=request.side_code,
            ord_type=request.ord_type,
            time_in_force=request.time_in_force,
            exec_inst=request.exec_inst,
            order_qty=request.order_qty,
            price=request.price,
            **state,
        )

    @property
    def done(self) -> bool:
        """Filled, cancelled or rejected: nothing can happen to it any more."""
        return self.status in (t.ORD_STATUS_FILLED, t.ORD_STATUS_CANCELED, t.ORD_STATUS_REJECTED)

    @property
    def avg_px(self) -> Decimal:
        if self.cum_qty == 0:
            return _ZERO
        return (self.notional / self.cum_qty).quantize(AVG_PX_PLACES)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able record (decimals as text)."""
        return {
            k: (format_decimal(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FixOrder:
        decimals = ("order_qty", "price", "cum_qty", "notional", "leaves_qty", "pending_qty")
        values: dict[str, Any] = {
            k: (Decimal(v) if k in decimals and v is not None else v) for k, v in raw.items()
        }
        return cls(**values)


class Orders:
    """The account's orders by DOME client order id, with the ClOrdID and order id maps."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.by_coid: dict[str, FixOrder] = {}
        self._by_cl_ord_id: dict[str, str] = {}
        self._by_order_id: dict[int, str] = {}
        #: Client order ids of orders changed (or dropped) since ``take_dirty`` last ran.
        self._dirty: set[str] = set()

    # ----------------------------------------------------------------- lookups

    def find(self, cl_ord_id: str) -> FixOrder | None:
        """The order that ``cl_ord_id`` (any ClOrdID it ever had) names."""
        coid = self._by_cl_ord_id.get(cl_ord_id)
        return self.by_coid.get(coid) if coid is not None else None

    def known(self, cl_ord_id: str) -> bool:
        """Whether any request of this account used ``cl_ord_id`` already."""
        return cl_ord_id in self._by_cl_ord_id

    def take_dirty(self) -> tuple[list[FixOrder], list[str]]:
        """The orders changed and the client order ids dropped since the last call."""
        changed = [self.by_coid[c] for c in sorted(self._dirty) if c in self.by_coid]
        dropped = sorted(c for c in self._dirty if c not in self.by_coid)
        self._dirty.clear()
        return changed, dropped

    def load(self, order: FixOrder) -> None:
        """Add an order read back from the state file."""
        self._add(order)
        if order.pending_cl_ord_id:
            self._by_cl_ord_id[order.pending_cl_ord_id] = order.coid
        self._dirty.discard(order.coid)

    # ---------------------------------------------------------------- requests

    def register(self, request: NewOrderRequest) -> FixOrder:
        """Remember a NewOrderSingle before it is sent, so its reports find it."""
        order = FixOrder.of(request, leaves_qty=request.order_qty)
        self._add(order)
        return order

    def forget(self, order: FixOrder) -> None:
        """Drop an order DOME never sequenced (refused at its edge): its ClOrdID is free."""
        self.by_coid.pop(order.coid, None)
        self._by_cl_ord_id.pop(order.cl_ord_id, None)
        self._dirty.add(order.coid)

    def begin_change(
        self, order: FixOrder, kind: str, cl_ord_id: str, qty: Decimal | None = None
    ) -> None:
        """Mark a cancel or replace in flight, before it is sent."""
        order.pending, order.pending_cl_ord_id, order.pending_qty = kind, cl_ord_id, qty
        self._by_cl_ord_id[cl_ord_id] = order.coid
        self._dirty.add(order.coid)

    def end_change(self, order: FixOrder) -> None:
        """The cancel or replace in flight was refused: its ClOrdID names nothing."""
        if order.pending_cl_ord_id:
            self._by_cl_ord_id.pop(order.pending_cl_ord_id, None)
        order.pending, order.pending_cl_ord_id, order.pending_qty = "", "", None
        self._dirty.add(order.coid)

    # ----------------------------------------------------------------- reports

    def on_report(self, report: Execution, base_exec_id: str) -> list[Fields]:
        """The ExecutionReports for one DOME report (none, one, or an ack and a fill)."""
        order = self._order_of(report)
        if order is None:
            return []
        self._dirty.add(order.coid)
        order.last_seq = max(order.last_seq, report.seq)
        if report.order_id and not order.order_id:
            order.order_id = report.order_id
            self._by_order_id[report.order_id] = order.coid
        kind = report.exec_type
        out: list[Fields] = []
        if kind is ExecType.REJECTED:
            if order.answered or order.status != t.ORD_STATUS_NEW:
                return []  # a refused cancel or amend: answered with OrderCancelReject
            order.status, order.leaves_qty, order.answered = t.ORD_STATUS_REJECTED, _ZERO, True
            reason = report.reject_reason or RejectReason.NONE
            return [
                self.fields(
                    order,
                    base_exec_id,
                    t.EXEC_TYPE_REJECTED,
                    report.timestamp_ns,
                    reject=(ord_rej_reason(reason), reason.message),
                )
            ]
        if not order.answered:
            order.answered = True
            if kind is ExecType.NEW:
                order.leaves_qty = report.remaining_qty
                if report.price and order.ord_type == t.ORD_TYPE_LIMIT:
                    order.price = report.price
                return [self.fields(order, base_exec_id, t.EXEC_TYPE_NEW, report.timestamp_ns)]
            out.append(self.fields(order, base_exec_id + "A", t.EXEC_TYPE_NEW, report.timestamp_ns))
        if kind is ExecType.NEW:
            order.leaves_qty = report.remaining_qty
            return out  # the rest of an order that traded on arrival now rests: known
        if kind is ExecType.TRADE and report.fill is not None:
            fill = report.fill
            order.cum_qty += fill.qty
            order.notional += fill.qty * fill.price
            order.leaves_qty = report.remaining_qty
            filled = report.remaining_qty == 0
            order.status = t.ORD_STATUS_FILLED if filled else t.ORD_STATUS_PARTIALLY_FILLED
            out.append(
                self.fields(
                    order,
                    base_exec_id,
                    t.EXEC_TYPE_TRADE,
                    report.timestamp_ns,
                    last=(fill.qty, fill.price, _ADDED if fill.maker else _REMOVED),
                )
            )
        elif kind is ExecType.CANCELLED:
            orig = ""
            if order.pending == "cancel":
                orig, order.cl_ord_id = order.cl_ord_id, order.pending_cl_ord_id
                order.pending, order.pending_cl_ord_id = "", ""
            order.status, order.leaves_qty = t.ORD_STATUS_CANCELED, _ZERO
            out.append(
                self.fields(order, base_exec_id, t.EXEC_TYPE_CANCELED, report.timestamp_ns, orig)
            )
        elif kind is ExecType.AMENDED:
            orig, exec_type = "", t.EXEC_TYPE_RESTATED
            order.leaves_qty = report.remaining_qty
            order.status = status_code(report.status)
            order.order_qty = order.cum_qty + report.remaining_qty
            if report.price:
                order.price = report.price
            if order.pending == "replace":
                orig, order.cl_ord_id = order.cl_ord_id, order.pending_cl_ord_id
                exec_type = t.EXEC_TYPE_REPLACED
                order.pending, order.pending_cl_ord_id, order.pending_qty = "", "", None
            out.append(self.fields(order, base_exec_id, exec_type, report.timestamp_ns, orig))
        return out

    def fields(
        self,
        order: FixOrder,
        exec_id: str,
        exec_type: str,
        timestamp_ns: int,
        orig_cl_ord_id: str = "",
        *,
        last: tuple[Decimal, Decimal, str] | None = None,
        reject: tuple[int, str] | None = None,
    ) -> Fields:
        """An ExecutionReport body for ``order`` as it stands now."""
        status = order.status
        cum, leaves = order.cum_qty, order.leaves_qty
        if exec_type == t.EXEC_TYPE_NEW:
            status, cum, leaves = t.ORD_STATUS_NEW, _ZERO, order.order_qty
        out: Fields = [
            (t.ORDER_ID, str(order.order_id) if order.order_id else "NONE"),
            (t.CL_ORD_ID, order.cl_ord_id),
        ]
        if orig_cl_ord_id:
            out.append((t.ORIG_CL_ORD_ID, orig_cl_ord_id))
        out += [
            (t.EXEC_ID, exec_id),
            (t.EXEC_TYPE, exec_type),
            (t.ORD_STATUS, status),
            (t.SYMBOL, order.symbol),
            (t.SIDE, order.side_code),
            (t.ORDER_QTY, format_decimal(order.order_qty)),
            (t.ORD_TYPE, order.ord_type),
        ]
        if order.price is not None and order.ord_type == t.ORD_TYPE_LIMIT:
            out.append((t.PRICE, format_decimal(order.price)))
        if order.time_in_force:
            out.append((t.TIME_IN_FORCE, order.time_in_force))
        if order.exec_inst:
            out.append((t.EXEC_INST, order.exec_inst))
        if last is not None:
            qty, price, _ = last
            out += [(t.LAST_QTY, format_decimal(qty)), (t.LAST_PX, format_decimal(price))]
        out += [
            (t.LEAVES_QTY, format_decimal(leaves)),
            (t.CUM_QTY, format_decimal(cum)),
            (t.AVG_PX, format_decimal(order.avg_px) if exec_type != t.EXEC_TYPE_NEW else "0"),
            (t.TRANSACT_TIME, transact_time(timestamp_ns)),
        ]
        if reject is not None:
            out += [(t.ORD_REJ_REASON, str(reject[0])), (t.TEXT, reject[1])]
        if last is not None:
            out.append((t.LAST_LIQUIDITY_IND, last[2]))
        return out

    # ---------------------------------------------------------------- plumbing

    def _add(self, order: FixOrder) -> None:
        self.by_coid[order.coid] = order
        self._by_cl_ord_id[order.coid] = order.coid
        self._by_cl_ord_id[order.cl_ord_id] = order.coid
        if order.order_id:
            self._by_order_id[order.order_id] = order.coid
        self._dirty.add(order.coid)

    def _order_of(self, report: Execution) -> FixOrder | None:
        """The order a report is about; one placed outside this gateway is adopted."""
        coid = report.client_order_id
        order = self.by_coid.get(coid)
        if order is None and report.order_id in self._by_order_id:
            order = self.by_coid.get(self._by_order_id[report.order_id])
        if order is not None:
            return order
        if report.exec_type is ExecType.REJECTED or report.side is None:
            return None  # a refused command of another client: nothing for FIX to know
        fill_qty = report.fill.qty if report.fill is not None else _ZERO
        adopted = FixOrder(
            coid=coid or f"dome-{report.order_id}",
            cl_ord_id=coid or f"dome-{report.order_id}",
            symbol=report.symbol,
            side_code=_SIDE_CODES[report.side],
            ord_type=t.ORD_TYPE_LIMIT,
            time_in_force=t.TIF_GTC,
            exec_inst="",
            order_qty=report.remaining_qty + fill_qty,
            price=report.price or None,
            leaves_qty=report.remaining_qty + fill_qty,
        )
        self._add(adopted)
        return adopted


def status_code(status: OrderStatus | None) -> str:
    """OrdStatus (39) for a DOME status."""
    return _STATUS_CODES.get(status or OrderStatus.REJECTED, t.ORD_STATUS_REJECTED)
