"""The canonical digest of a book, so replicas and implementations can be compared.

Two books hash equal exactly when they hold the same orders in the same priority order
with the same open quantities, have applied the same last sequence number and will give
the next trade the same id. The digest depends on nothing else (not on how a book stores
its levels), so the fast and the reference book hash alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from dome.core.book_api import RestingOrder


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
