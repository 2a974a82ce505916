"""One's own orders as objects with a lifecycle, kept from results and execution reports.

An order is known before the exchange has seen it (PENDING_NEW, by client order id),
then by its answers, which race: a submit's result, the stream's reports, a cancel's
result. Each carries the seq of the command it answers, so the newest seq wins for the
order's status, and fills are booked once each whoever brings them first.

What a risk check needs is the quantity that may still trade, ``open_qty``: the
order's quantity less the fills seen and the quantity confirmed cancelled. It is freed
only by those two, never by a request: an order whose cancel is in flight, or whose
cancel came back UNKNOWN_ORDER because it traded first (the fill report not read
yet), still counts. That is what keeps an inventory limit while replacements are in
flight (``BotRunner``).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from decimal import Decimal

from dome.client.models import ExecType, Execution, Fill, OrderResult
from dome.client.portfolio import Portfolio
from dome.core.types import OrderStatus, OrderType, RejectReason, Side
from dome.positions import ZERO


class OrderState(enum.Enum):
    """Where an order is in its life; the last four are final."""

    PENDING_NEW = "pending_new"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    #: This version of the order was amended; the order lives on as a new version.
    REPLACED = "replaced"

    @property
    def final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset(
    {OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.REPLACED}
)
_BY_STATUS = {
    OrderStatus.NEW: OrderState.NEW,
    OrderStatus.PARTIALLY_FILLED: OrderState.PARTIALLY_FILLED,
    OrderStatus.FILLED: OrderState.FILLED,
    OrderStatus.CANCELLED: OrderState.CANCELLED,
    OrderStatus.REJECTED: OrderState.REJECTED,
}


@dataclass(frozen=True)
class Order:
    """One version of one of one's orders. Immutable: every change is a new ``Order``."""

    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal | None
    type: OrderType
    state: OrderState = OrderState.PENDING_NEW
    order_id: int = 0
    filled_qty: Decimal = ZERO
    cancelled_qty: Decimal = ZERO
    reject_reason: RejectReason | None = None
    reject_message: str = ""
    #: Seq of the newest answer applied (0: none yet).
    seq: int = 0

    @classmethod
    def of_report(cls, report: Execution) -> Order:
        """An order first met in a report (a previous run's, read from the history);
        its quantity follows from the reports (``OrderBook.on_report``)."""
        return cls(
            report.client_order_id,
            report.symbol,
            report.side or Side.BUY,
            ZERO,
            report.price or None,
            OrderType.LIMIT,
            state=OrderState.NEW,
            order_id=report.order_id,
        )

    @property
    def open_qty(self) -> Decimal:
        """Quantity that may still trade: not yet seen filled nor confirmed cancelled."""
        if self.state in (OrderState.REJECTED, OrderState.REPLACED):
            return ZERO
        return max(self.qty - self.filled_qty - self.cancelled_qty, ZERO)

    @property
    def done(self) -> bool:
        """Final, with every lot accounted for by a fill seen or a cancel."""
        return self.state.final and not self.open_qty

    @property
    def resting(self) -> bool:
        """On the book (as far as one knows) at a price."""
        return self.price is not None and self.state in (
            OrderState.NEW,
            OrderState.PARTIALLY_FILLED,
            OrderState.PENDING_CANCEL,
        )


@dataclass(frozen=True)
class OrderEvent:
    """Something changed an order: ``order`` is the new version, ``previous`` the old."""

    order: Order
    previous: OrderState


@dataclass(frozen=True)
class OrderFilled(OrderEvent):
    """The order traded (``fill``, reported by ``execution``); booked in the portfolio."""

    fill: Fill
    execution: Execution


@dataclass(frozen=True)
class OrderCancelled(OrderEvent):
    """The order's open quantity left the book (asked for, an IOC's rest, STP)."""


@dataclass(frozen=True)
class OrderRejected(OrderEvent):
    """The exchange, or a local risk check, refused the order or a change of it."""


@dataclass(frozen=True)
class OrderUpdated(OrderEvent):
    """Any other change of state: acknowledged, pending cancel, amended, replaced."""


class OrderBook:
    """The orders of one owner, by client order id and by exchange order id.

    Every ``on_*`` returns the events it caused, in order; fills are booked into
    ``portfolio`` as they are first seen.
    """

    def __init__(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio
        self.orders: dict[str, Order] = {}
        self._by_id: dict[tuple[str, int], str] = {}
        #: Client order ids of orders dropped once done: never to be met again as new.
        self._done: set[str] = set()

    def get(self, symbol: str, order_id: int) -> Order | None:
        cid = self._by_id.get((symbol, order_id))
        return self.orders.get(cid) if cid is not None else None

    def live(self, symbol: str | None = None) -> list[Order]:
        """Orders not done (quantity may still trade), oldest first."""
        return [
            o for o in self.orders.values() if not o.done and (symbol is None or o.symbol == symbol)
        ]

    def exposure(self, symbol: str, side: Side) -> Decimal:
        """Open quantity of one side: what may still trade on top of the position."""
        return sum((o.open_qty for o in self.live(symbol) if o.side is side), ZERO)

    def forget_done(self) -> None:
        """Drop done orders (a long run would otherwise keep them all)."""
        for cid in [c for c, o in self.orders.items() if o.done]:
            order = self.orders.pop(cid)
            self._by_id.pop((order.symbol, order.order_id), None)
            self._done.add(cid)

    def knows(self, client_order_id: str) -> bool:
        """Whether the order is tracked, or was and is done."""
        return client_order_id in self.orders or client_order_id in self._done

    # -- what one does --------------------------------------------------------------

    def pending_new(self, order: Order) -> list[OrderEvent]:
        self.orders[order.client_order_id] = order
        return [OrderUpdated(order, OrderState.PENDING_NEW)]

    def adopt(self, order: Order) -> list[OrderEvent]:
        """An order found open at start (a previous run's), known by id."""
        self.orders[order.client_order_id] = order
        self._by_id[(order.symbol, order.order_id)] = order.client_order_id
        return [OrderUpdated(order, OrderState.PENDING_NEW)]

    def pending_cancel(self, order: Order) -> list[OrderEvent]:
        if order.state.final:
            return []
        return self._set(order, state=OrderState.PENDING_CANCEL)

    def refused(self, order: Order, reason: RejectReason | None, message: str) -> list[OrderEvent]:
        """A local refusal (risk) or a submit that failed before the exchange took it."""
        rejected = dataclasses.replace(
            order, state=OrderState.REJECTED, reject_reason=reason, reject_message=message
        )
        self.orders[order.client_order_id] = rejected
        return [OrderRejected(rejected, order.state)]

    # -- what the exchange says -----------------------------------------------------

    def on_submit(self, order: Order, result: OrderResult) -> list[OrderEvent]:
        """The submit's result: the order's id and status.

        Its taker fills are booked when their reports arrive (so every fill reaches the
        bot with its execution report); until then they count as open quantity.
        """
        current = self.orders.get(order.client_order_id, order)
        current = dataclasses.replace(current, order_id=result.order_id)
        self._by_id[(current.symbol, result.order_id)] = current.client_order_id
        self.orders[current.client_order_id] = current
        return self._status(
            current.client_order_id, result.status, result.seq, result.cancelled_qty, result
        )

    def on_cancel(self, order: Order, result: OrderResult) -> list[OrderEvent]:
        """A cancel's result. TOO_LATE_TO_CANCEL (or UNKNOWN_ORDER, for an order the
        exchange no longer remembers): no longer open, its fills still to come."""
        current = self.orders.get(order.client_order_id)
        if current is None or current.state.final:
            return []
        if result.rejected:
            if result.reject_reason in (
                RejectReason.TOO_LATE_TO_CANCEL,
                RejectReason.UNKNOWN_ORDER,
            ):
                # Too late: it traded (or was cancelled) before; the stream tells which,
                # and until it does the open quantity still counts.
                return self._set(current, state=_too_late(current))
            kept = self._set(current, state=_before_cancel(current))
            return [*kept, OrderRejected(self.orders[current.client_order_id], current.state)]
        return self._status(
            current.client_order_id, result.status, result.seq, result.cancelled_qty, result
        )

    def on_amend(self, order: Order, result: OrderResult) -> list[OrderEvent]:
        """An amend's result: this version is REPLACED by one with the new values."""
        current = self.orders.get(order.client_order_id)
        if current is None:
            return []
        if result.rejected:
            return [OrderRejected(current, current.state)]
        replaced = dataclasses.replace(current, state=OrderState.REPLACED, seq=result.seq)
        # The exchange's quantity after the amend is open now; fills not seen yet are
        # in filled_qty (the result's), so qty covers them until they arrive.
        new = dataclasses.replace(
            order,
            qty=result.filled_qty + result.remaining_qty,
            filled_qty=current.filled_qty,
            state=_BY_STATUS.get(result.status or OrderStatus.NEW, OrderState.NEW),
            seq=result.seq,
        )
        self.orders[current.client_order_id] = new
        return [OrderUpdated(replaced, current.state), OrderUpdated(new, OrderState.REPLACED)]

    def on_report(self, report: Execution) -> list[OrderEvent]:
        """One execution report of one's own orders (others' are ignored)."""
        cid = self._by_id.get((report.symbol, report.order_id)) or report.client_order_id
        current = self.orders.get(cid)
        if current is None:
            return []
        if not current.order_id and report.order_id:
            current = dataclasses.replace(current, order_id=report.order_id)
            self.orders[cid] = current
            self._by_id[(current.symbol, report.order_id)] = cid
        events: list[OrderEvent] = []
        if report.exec_type is ExecType.TRADE and report.fill is not None:
            events += self._fill(cid, report.fill, report)
        if report.exec_type is ExecType.REJECTED:
            return events  # a refused cancel or amend: its result says so
        order = self.orders[cid]
        if report.seq >= order.seq and order.state is not OrderState.REPLACED:
            # Reports of a symbol come in seq order, so every fill up to this one has
            # been seen: what the order amounts to is those, its cancel, and what rests.
            cancelled = (
                report.cancelled_qty
                if report.exec_type is ExecType.CANCELLED
                else order.cancelled_qty
            )
            self.orders[cid] = dataclasses.replace(
                order, qty=order.filled_qty + cancelled + report.remaining_qty
            )
        return events + self._status(
            cid, report.status, report.seq, report.cancelled_qty, None, report.exec_type
        )

    # -- plumbing -------------------------------------------------------------------

    def _fill(self, cid: str, fill: Fill, report: Execution) -> list[OrderEvent]:
        order = self.orders[cid]
        if not self.portfolio.apply(order.symbol, order.order_id, order.side, fill):
            return []
        filled = dataclasses.replace(order, filled_qty=order.filled_qty + fill.qty)
        self.orders[cid] = filled
        return [OrderFilled(filled, order.state, fill, report)]

    def _status(
        self,
        cid: str,
        status: OrderStatus | None,
        seq: int,
        cancelled: Decimal,
        result: OrderResult | None,
        exec_type: ExecType | None = None,
    ) -> list[OrderEvent]:
        order = self.orders[cid]
        if status is None or seq < order.seq or order.state is OrderState.REPLACED:
            return []
        state = _BY_STATUS[status]
        if not state.final and order.state is OrderState.PENDING_CANCEL:
            state = OrderState.PENDING_CANCEL  # the cancel's answer decides
        if order.state.final and order.state is not OrderState.REJECTED and not state.final:
            # A result ahead of the reports of its own seq: final stays final. (A submit
            # refused for a failed call may still turn out to exist: REJECTED revives.)
            state = order.state
        changes: dict[str, object] = {"state": state, "seq": seq}
        if state is OrderState.CANCELLED:
            changes["cancelled_qty"] = cancelled
        if state is OrderState.REJECTED and result is not None:
            changes["reject_reason"] = result.reject_reason
            changes["reject_message"] = result.reject_message
        return self._set(order, **changes)

    def _set(self, order: Order, **changes: object) -> list[OrderEvent]:
        new = dataclasses.replace(order, **changes)  # type: ignore[arg-type]
        self.orders[order.client_order_id] = new
        if new == order:
            return []
        if new.state is OrderState.CANCELLED and order.state is not OrderState.CANCELLED:
            return [OrderCancelled(new, order.state)]
        if new.state is OrderState.REJECTED and order.state is not OrderState.REJECTED:
            return [OrderRejected(new, order.state)]
        if new.state is order.state:
            return []
        return [OrderUpdated(new, order.state)]


def _too_late(order: Order) -> OrderState:
    # All of it is accounted for (filled): FILLED; else cancelled or filled unseen, and
    # the stream's report settles it; PENDING_CANCEL keeps its quantity counted.
    return OrderState.FILLED if order.filled_qty >= order.qty else OrderState.PENDING_CANCEL


def _before_cancel(order: Order) -> OrderState:
    if order.filled_qty:
        return OrderState.PARTIALLY_FILLED
    return OrderState.NEW if order.order_id else OrderState.PENDING_NEW
