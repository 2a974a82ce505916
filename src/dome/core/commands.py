"""Commands: what the sequencer feeds a book, already stamped with sequence and time.

The book reads time and ordering only from here, never from a clock, so replaying the
same commands gives the same book (DESIGN.md section 2). Commands are immutable tuples:
cheap to build on the hot path, trivially serialisable for the journal.
"""

from __future__ import annotations

from typing import NamedTuple

from dome.core.types import OrderType, SelfTradePrevention, Side


class NewOrder(NamedTuple):
    """Place an order. ``order_id`` is chosen by the sequencer (unique per symbol)."""

    seq: int
    timestamp_ns: int
    order_id: int
    account: str
    client_order_id: str
    side: Side
    order_type: OrderType
    #: Limit price in ticks; 0 for MARKET orders.
    price: int
    #: Quantity in lots.
    qty: int
    stp: SelfTradePrevention = SelfTradePrevention.CANCEL_RESTING


class CancelOrder(NamedTuple):
    """Cancel the open remainder of one of the account's orders."""

    seq: int
    timestamp_ns: int
    account: str
    order_id: int


class AmendOrder(NamedTuple):
    """Change an open order's price and/or open quantity.

    Only lowering the open quantity at the same price keeps time priority; any other
    change re-enters the order at the back of its (new) level and may trade.
    """

    seq: int
    timestamp_ns: int
    account: str
    order_id: int
    #: New open quantity in lots; 0 keeps the current one.
    qty: int = 0
    #: New price in ticks; 0 keeps the current one.
    price: int = 0


Command = NewOrder | CancelOrder | AmendOrder
