"""Commands as they arrive, before the sequencer gives them a sequence number and time.

The wire layer decodes into these; only the sequencer turns them into core commands,
because only it may choose ``seq``, ``timestamp_ns`` and ``order_id``.
"""

from __future__ import annotations

from typing import NamedTuple

from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.types import OrderType, SelfTradePrevention, Side


class PlaceRequest(NamedTuple):
    """A new order in ticks and lots."""

    account: str
    client_order_id: str
    side: Side
    order_type: OrderType
    price: int
    qty: int
    stp: SelfTradePrevention


class CancelRequest(NamedTuple):
    """Cancel one order."""

    account: str
    order_id: int


class AmendRequest(NamedTuple):
    """Amend one order; 0 keeps a value."""

    account: str
    order_id: int
    qty: int
    price: int


Request = PlaceRequest | CancelRequest | AmendRequest


#: ``tuple.__new__``: a NamedTuple from a tuple without the Python-level ``__new__``
#: call (the fields are already checked, and this runs once per sequenced command).
_new = tuple.__new__


def stamp(request: Request, seq: int, timestamp_ns: int) -> Command:
    """The core command for ``request`` at ``seq``; a new order's id is its ``seq``."""
    if type(request) is PlaceRequest:
        return _new(NewOrder, (seq, timestamp_ns, seq, *request))
    if type(request) is CancelRequest:
        return CancelOrder(seq, timestamp_ns, request.account, request.order_id)
    if type(request) is AmendRequest:
        return AmendOrder(seq, timestamp_ns, *request)
    raise TypeError(f"not a request: {request!r}")
