"""DOME's native book core: ``dome.core``'s market (book + idempotency window) in Rust.

``Book`` implements ``dome.core.book_api.Book`` and ``Market`` has the surface of
``dome.core.market.Market`` plus the batch entry points; both answer every command with
the same events, hashes and snapshots as the Python core (``dome.core.reference``), byte
for byte. Commands are the NamedTuples of ``dome.core.commands``; events, resting orders,
levels and snapshots are the Python core's own types.

Beyond the Python core: ids and sequence numbers outside 0..2**64 (which no log can
carry) and fields of the wrong type raise ``ValueError``/``TypeError`` instead of being
answered; prices and quantities of any size get the reject the Python core gives.
"""

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from dome.core.book_api import BookState, Level, RestingOrder
from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.events import Event
from dome.core.instrument import Instrument
from dome.core.market import MarketResult, MarketSnapshot
from dome.core.types import Side

__all__ = ["DEFAULT_DEDUP_WINDOW", "Book", "Market", "encode_order_batch_result"]
__version__: str

#: How many (account, client order id) pairs a market remembers by default.
DEFAULT_DEDUP_WINDOW: int

class Book:
    """One symbol's order book (``dome.core.book_api.Book``), in Rust."""

    instrument: Instrument

    def __init__(self, instrument: Instrument) -> None: ...
    def place(self, cmd: NewOrder) -> list[Event]: ...
    def cancel(self, cmd: CancelOrder) -> list[Event]: ...
    def amend(self, cmd: AmendOrder) -> list[Event]: ...
    def apply(self, cmd: Command) -> list[Event]: ...
    def best_bid(self) -> int | None: ...
    def best_ask(self) -> int | None: ...
    def level(self, side: Side, price: int) -> Level: ...
    def depth(self, side: Side, levels: int) -> list[Level]: ...
    def get_order(self, order_id: int) -> RestingOrder | None: ...
    def orders(self) -> Iterator[RestingOrder]: ...
    @property
    def last_seq(self) -> int: ...
    @property
    def next_trade_id(self) -> int: ...
    def check_invariants(self) -> None:
        """Raise ``dome.core.book_api.InvariantError`` if internal state is inconsistent."""
    def state_hash(self) -> str: ...
    def snapshot(self) -> BookState: ...
    def restore(self, snapshot: BookState) -> None:
        """Replace the state with ``snapshot``'s; ``ValueError`` (changing nothing) if it
        is inconsistent (``dome.core.book_api.check_snapshot``)."""

class Market:
    """A native book and the replicated idempotency window (``dome.core.market.Market``)."""

    dedup_window: int

    def __init__(self, instrument: Instrument, dedup_window: int = 100_000) -> None: ...
    @property
    def book(self) -> Book:
        """The market's book, sharing the market's state."""
    @property
    def instrument(self) -> Instrument: ...
    @property
    def last_seq(self) -> int: ...
    def apply(self, cmd: Command) -> MarketResult: ...
    def apply_batch(self, commands: Sequence[Command] | Iterable[Command]) -> list[MarketResult]:
        """Apply ``commands`` in order, matching with the GIL released; every command is
        read first, so nothing changes when one cannot be (``TypeError``/``ValueError``)."""
    def apply_encoded(self, log_batch: bytes) -> list[MarketResult]:
        """Decode a ``dome.v1.LogBatch`` (as ``dome.log.entries.decode_batch`` does) and
        apply its commands like ``apply_batch``; ``dome.log.errors.LogFormatError`` (a
        ``ValueError``), changing nothing, when the bytes are not a valid batch."""
    def apply_batch_effects(self, commands: Sequence[Command] | Iterable[Command]) -> bytes:
        """``apply_batch``, answered as ``dome.v1.BatchEffects`` bytes (``dome.engine.effects``),
        matched and encoded with the GIL released and no Python object per event."""
    def apply_encoded_effects(self, log_batch: bytes) -> bytes:
        """Bytes in, bytes out: ``apply_encoded``'s decoding and refusals, answered as
        ``dome.v1.BatchEffects`` bytes."""
    def is_known(self, account: str, client_order_id: str) -> bool: ...
    def remembered(self) -> int: ...
    def snapshot(self) -> MarketSnapshot: ...
    def restore(self, snapshot: MarketSnapshot) -> None: ...
    def state_hash(self) -> str: ...

def encode_order_batch_result(batch_id: int, rows: Iterable[tuple[Any, ...]]) -> bytes:
    """``dome.v1.OrderBatchResult(batch_id, results=rows)`` serialized, as upb writes it.

    Each row is a ``dome.engine.answers.Answer``: an ``OrderResult``'s fields in number
    order, fills as ``(trade_id, price, qty, maker)``. ``TypeError`` for anything else.
    """
