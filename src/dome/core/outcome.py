"""Turn the events of one command into the answer its sender gets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from dome.core.events import (
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRejected,
    OrderRested,
    Trade,
)
from dome.core.types import OrderStatus, RejectReason


class Fill(NamedTuple):
    """One trade, seen from the order that asked."""

    trade_id: int
    price: int
    qty: int


class Outcome(NamedTuple):
    """What happened to the order a command addressed."""

    order_id: int
    status: OrderStatus
    reject_reason: RejectReason
    filled_qty: int
    remaining_qty: int
    #: Quantity this command cancelled (cancels, and unfilled MARKET/IOC remainders).
    cancelled_qty: int
    fills: tuple[Fill, ...]


#: ``tuple.__new__``: builds a NamedTuple without the Python-level ``__new__`` call.
_new = tuple.__new__


def outcome(order_id: int, events: Sequence[Event]) -> Outcome:
    """Summarise ``events`` (one command's, in order) for ``order_id``.

    For an amend or cancel of a resting order, ``filled_qty`` counts only this
    command's fills; the status says what the order is now.
    """
    fills: list[Fill] = []
    filled = 0
    remaining = 0
    cancelled = 0
    status = OrderStatus.NEW
    reason = RejectReason.NONE
    # Exact type checks, not isinstance: the event types are closed NamedTuples, and this
    # runs for every command an engine answers. Any: each branch reads its own type's fields.
    ev: Any
    for ev in events:
        kind = type(ev)
        if kind is Trade:
            if ev.taker_order_id == order_id:
                remaining = ev.taker_remaining
            elif ev.maker_order_id == order_id:
                remaining = ev.maker_remaining
            else:
                continue
            fills.append(_new(Fill, (ev.trade_id, ev.price, ev.qty)))
            filled += ev.qty
            status = OrderStatus.FILLED if remaining == 0 else OrderStatus.PARTIALLY_FILLED
        elif ev.order_id != order_id:
            continue
        elif kind is OrderAccepted:
            remaining = ev.qty
        elif kind is OrderRested:
            remaining = ev.remaining
            status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.NEW
        elif kind is OrderAmended:
            remaining = ev.new_remaining
        elif kind is OrderCancelled:
            cancelled += ev.cancelled_qty
            remaining = 0
            status = OrderStatus.CANCELLED
        elif kind is OrderRejected:
            return Outcome(order_id, OrderStatus.REJECTED, ev.reason, 0, 0, 0, ())
    return Outcome(order_id, status, reason, filled, remaining, cancelled, tuple(fills))
