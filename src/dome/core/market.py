"""One symbol's replicated state machine: the book plus the idempotency window.

A retry after a lost acknowledgement or a failover must return the original result and
never create a second order (DESIGN.md section 3). That memory has to be replicated
state, applied in sequence like the book itself, or a promoted follower would accept
the retry as new. So it lives here, next to the book, and ``state_hash()`` covers both.

Pure like the book: no I/O, clock, randomness or logging.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from typing import NamedTuple

from dome.core.book_api import Book, BookState
from dome.core.commands import Command, NewOrder
from dome.core.events import Event
from dome.core.instrument import Instrument
from dome.core.state_hash import canon
from dome.core.validation import client_order_id_ok

#: How many (account, client order id) pairs a market remembers by default.
DEFAULT_DEDUP_WINDOW = 100_000


class MarketResult(NamedTuple):
    """What one command did to the market."""

    #: The command's events; for a duplicate, the original command's events.
    events: tuple[Event, ...]
    #: True when the command repeated a remembered client order id and changed nothing.
    duplicate: bool


class BatchFailed(Exception):
    """A command of a batch raised: ``results`` holds those of the commands before it."""

    def __init__(self, results: list[MarketResult]) -> None:
        super().__init__(f"command {len(results)} of the batch raised")
        self.results = results


class MarketSnapshot(NamedTuple):
    """A market's whole replicated state as plain data (see ``Market.snapshot``)."""

    book: BookState
    #: ``Market.last_seq``: may be past the book's own when the last commands were duplicates.
    last_seq: int
    #: The window, oldest first: (account, client order id, the original events).
    seen: tuple[tuple[str, str, tuple[Event, ...]], ...]


class Market:
    """A book and the (account, client_order_id) pairs of recent new orders.

    The window is a FIFO of ``dedup_window`` entries: the oldest pair is forgotten first,
    in sequence order, so every replica forgets the same pair at the same sequence.

    >>> from dome.core.reference import ReferenceBook
    >>> from dome.core.types import OrderType, Side
    >>> market = Market(ReferenceBook(Instrument("XYZ")))
    >>> cmd = NewOrder(1, 0, 1, "alice", "c1", Side.BUY, OrderType.LIMIT, 100, 5)
    >>> market.apply(cmd).duplicate, market.apply(cmd._replace(seq=2, order_id=2)).duplicate
    (False, True)
    """

    def __init__(self, book: Book, dedup_window: int = DEFAULT_DEDUP_WINDOW) -> None:
        if dedup_window < 0:
            raise ValueError("dedup_window must not be negative")
        self.book = book
        self.dedup_window = dedup_window
        self._seen: OrderedDict[tuple[str, str], tuple[Event, ...]] = OrderedDict()
        self._last_seq = 0

    @property
    def instrument(self) -> Instrument:
        """The book's instrument."""
        return self.book.instrument

    @property
    def last_seq(self) -> int:
        """Sequence number of the last command applied, duplicates included."""
        return self._last_seq

    def apply(self, cmd: Command) -> MarketResult:
        """Apply ``cmd``; a repeated client order id returns the original events instead."""
        self._last_seq = cmd.seq
        if type(cmd) is not NewOrder or not cmd.client_order_id:
            return MarketResult(tuple(self.book.apply(cmd)), False)
        key = (cmd.account, cmd.client_order_id)
        original = self._seen.get(key)
        if original is not None:
            return MarketResult(original, True)
        events = tuple(self.book.place(cmd))
        # An invalid id names no order, and remembering it would let junk fill the window.
        if self.dedup_window and client_order_id_ok(cmd.client_order_id):
            self._seen[key] = events
            if len(self._seen) > self.dedup_window:
                self._seen.popitem(last=False)
        return MarketResult(events, False)

    def apply_batch(self, commands: Iterable[Command]) -> list[MarketResult]:
        """``apply`` each command in order: the batch entry point both cores have.

        The native core does the whole batch in one call; here it is only the loop. A
        command that raises (a bug: rule breaks are rejects, not exceptions) ends the
        batch with ``BatchFailed``, carrying the results of the commands before it.
        """
        apply = self.apply
        results: list[MarketResult] = []
        append = results.append
        try:
            for cmd in commands:
                append(apply(cmd))
        except Exception as exc:
            raise BatchFailed(results) from exc
        return results

    def is_known(self, account: str, client_order_id: str) -> bool:
        """Whether a new order with this client order id would be answered as a duplicate."""
        return (account, client_order_id) in self._seen

    def remembered(self) -> int:
        """How many client order ids the window holds now."""
        return len(self._seen)

    def snapshot(self) -> MarketSnapshot:
        """Book, last sequence and window as plain data; ``restore`` rebuilds them."""
        return MarketSnapshot(
            self.book.snapshot(),
            self._last_seq,
            tuple((account, cid, events) for (account, cid), events in self._seen.items()),
        )

    def restore(self, snapshot: MarketSnapshot) -> None:
        """Replace book, last sequence and window with ``snapshot``'s.

        ``ValueError`` if the book part is inconsistent. A window larger than this
        market's ``dedup_window`` keeps its newest pairs: the ones the FIFO would keep.
        """
        self.book.restore(snapshot.book)
        seen: OrderedDict[tuple[str, str], tuple[Event, ...]] = OrderedDict()
        for account, client_order_id, events in snapshot.seen:
            seen[(account, client_order_id)] = tuple(events)
        while len(seen) > self.dedup_window:
            seen.popitem(last=False)
        self._seen = seen
        self._last_seq = snapshot.last_seq

    def state_hash(self) -> str:
        """Digest of the book's hash, the last sequence and the window, in order.

        SHA-256 over ``book_hash|last_seq`` and then one ``account|client_order_id|events``
        line per window entry, oldest first, the events in ``state_hash.canon`` form: text
        the native core produces byte for byte, so replicas on either core compare.
        """
        digest = hashlib.sha256(f"{self.book.state_hash()}|{self._last_seq}\n".encode())
        for (account, client_order_id), events in self._seen.items():
            digest.update(f"{account}|{client_order_id}|{canon(events)}\n".encode())
        return digest.hexdigest()
