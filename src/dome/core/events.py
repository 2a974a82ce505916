"""Events: everything a book says about what a command did.

A book emits events and nothing else, so every effect (responses, execution reports,
market data, metrics) is derived from them downstream. The last event of a ``NewOrder``
tells its fate: ``OrderRested`` (resting), ``OrderCancelled`` of the incoming order
(remainder cancelled), ``OrderRejected``, or a ``Trade`` whose ``taker_remaining`` is 0
(filled). ``dome.core.outcome`` turns a command's events into the caller's answer.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from dome.core.types import OrderType, RejectReason, Side


class CancelReason(IntEnum):
    """Why an order's open quantity left the book or never reached it."""

    #: The owner asked.
    REQUESTED = 1
    #: MARKET and IOC orders cancel what they could not fill at once.
    UNFILLED = 2
    #: Self-trade prevention removed it.
    SELF_TRADE = 3


class OrderAccepted(NamedTuple):
    """A new order passed validation and is about to meet the book."""

    seq: int
    order_id: int
    account: str
    client_order_id: str
    side: Side
    order_type: OrderType
    price: int
    qty: int


class Trade(NamedTuple):
    """Two orders traded ``qty`` lots at the resting (maker) order's price."""

    seq: int
    trade_id: int
    price: int
    qty: int
    aggressor: Side
    maker_order_id: int
    maker_account: str
    maker_remaining: int
    taker_order_id: int
    taker_account: str
    taker_remaining: int


class OrderRested(NamedTuple):
    """The open remainder of an order joined the book at ``price``."""

    seq: int
    order_id: int
    account: str
    side: Side
    price: int
    remaining: int


class OrderCancelled(NamedTuple):
    """An order's open quantity was cancelled.

    ``was_resting`` tells market data whether a level shrank: an IOC remainder was never
    on the book, a cancelled resting order was.
    """

    seq: int
    order_id: int
    account: str
    side: Side
    price: int
    cancelled_qty: int
    reason: CancelReason
    was_resting: bool


class OrderAmended(NamedTuple):
    """A resting order changed price and/or open quantity.

    When ``priority_kept`` is false the order left its old place; trades and an
    ``OrderRested`` may follow, exactly as for a new order.
    """

    seq: int
    order_id: int
    account: str
    side: Side
    old_price: int
    old_remaining: int
    new_price: int
    new_remaining: int
    priority_kept: bool


class OrderRejected(NamedTuple):
    """A command broke an exchange rule; the book is untouched."""

    seq: int
    order_id: int
    account: str
    client_order_id: str
    reason: RejectReason


Event = OrderAccepted | Trade | OrderRested | OrderCancelled | OrderAmended | OrderRejected
