"""The canonical digests of a book and of a market's events, so replicas and cores compare.

Two books hash equal exactly when they hold the same orders in the same priority order
with the same open quantities, have applied the same last sequence number and will give
the next trade the same id. The digest depends on nothing else (not on how a book stores
its levels), so the native and the reference book hash alike.

Both digests are over plain text that any language can produce (``dome_native`` does, in
Rust): integers in decimal, enums and booleans as their integers, strings as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from dome.core.book_api import RestingOrder
from dome.core.events import Event


def hash_book(
    symbol: str, last_seq: int, next_trade_id: int, orders: Iterable[RestingOrder]
) -> str:
    """SHA-256 over a line-per-order text form, in ``Book.orders()`` order."""
    digest = hashlib.sha256(f"{symbol}|{last_seq}|{next_trade_id}\n".encode())
    update = digest.update
    for o in orders:
        update(
            f"{o.order_id}|{o.account}|{o.client_order_id}|{int(o.side)}|{o.price}|{o.qty}|"
            f"{o.remaining}|{o.priority}|{int(o.order_type)}|{int(o.stp)}\n".encode()
        )
    return digest.hexdigest()


def canon(events: Iterable[Event]) -> str:
    """Events as canonical text: ``Name:field,field,...`` per event, joined by ``;``.

    Fields in declaration order; a string as it is, anything else (ints, enums, bools)
    as its integer in decimal. ``Market.state_hash`` digests a window entry's events in
    this form, which is what lets another language reproduce the digest.

    >>> from dome.core.events import OrderAccepted, OrderRested
    >>> from dome.core.types import OrderType, Side
    >>> canon([OrderAccepted(3, 7, "alice", "c-1", Side.BUY, OrderType.LIMIT, 100, 5),
    ...        OrderRested(3, 7, "alice", Side.BUY, 100, 5)])
    'OrderAccepted:3,7,alice,c-1,1,1,100,5;OrderRested:3,7,alice,1,100,5'
    >>> canon([])
    ''
    """
    return ";".join(
        type(e).__name__ + ":" + ",".join(v if isinstance(v, str) else str(int(v)) for v in e)
        for e in events
    )
