"""The exchange's record of each account's positions on one symbol: exact and durable.

A restarted bot must know its position. The execution history (``reports``) cannot
tell it: it is bounded (100,000 reports per symbol, every account together, so a few
seconds of a busy book) and starts afresh at a restored snapshot. This record keeps
one position per (account, book) for as long as the symbol lives: it is a function of
the applied commands alone, so every replica keeps the same one, and it goes into
snapshots with the reporter, so it survives restarts and failovers.

A book is the part of a client order id before its first ``/`` (``mm/3f2a1c-17`` books
to ``mm``; an id without ``/`` to the empty book): the SDK's ``BotRunner`` names every
order ``TAG/RUN-N``, so each bot's position is kept apart from the other bots' of the
same account. Positions are booked with ``dome.positions``, the code the SDK books its
own fills with, so the two agree exactly. Fees are the client's business (instruments
declare none); the record keeps the maker and taker notionals they are computed from.

An account's first ``MAX_BOOKS`` books are kept apart, the fills of any later one are
kept together under ``OVERFLOW_BOOK`` (as are those of an order that names that book
itself): a client choosing a new prefix per order must
not grow an engine's memory without bound.

Fills are queued as integers while a batch is reported and booked in decimals at its end
(``fold``), in one loop; booking several batches' fills at once would save nothing and
pause one batch for all of them. Measured: about 3.5 us of CPU per fill on this
machine's cores (two per trade), the price of exact decimals in Python; the Decimal of
each price and size is kept once made, as the flow repeats them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dome.core.types import Side
from dome.engine.codec import Units
from dome.positions import ZERO, Position
from dome.v1 import trading_pb2 as tr

BOOK_SEPARATOR = "/"
MAX_BOOKS = 256
OVERFLOW_BOOK = "*"
#: Tick and lot counts whose Decimal a ledger keeps (each cache starts over beyond it).
DECIMALS_CACHED = 4_096


def book_of(client_order_id: str) -> str:
    """The book an order's fills go to (see the module docstring)."""
    book, separator, _ = client_order_id.partition(BOOK_SEPARATOR)
    return book if separator else ""


@dataclass
class Entry:
    """One (account, book)'s position and the notionals its fees follow from."""

    position: Position
    maker_notional: Decimal = ZERO
    taker_notional: Decimal = ZERO


@dataclass
class PositionLedger:
    """Every account's positions on one symbol (see the module docstring)."""

    units: Units
    #: Fills of sequence numbers up to this one are missing (the record was restored
    #: from a snapshot written before engines kept it); 0: none is missing.
    missing_through_seq: int = 0
    _entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    _books: dict[str, int] = field(default_factory=dict)
    _queued: list[tuple[str, str, Side, int, int, bool]] = field(default_factory=list)
    #: Decimals of tick and lot counts met lately (Decimals are immutable: safe to share).
    _prices: dict[int, Decimal] = field(default_factory=dict)
    _sizes: dict[int, Decimal] = field(default_factory=dict)

    def fill(
        self, account: str, client_order_id: str, side: Side, price: int, lots: int, maker: bool
    ) -> None:
        """Record one side of one trade (price in ticks, quantity in lots)."""
        self._queued.append((account, client_order_id, side, price, lots, maker))

    def positions(self, account: str, book: str | None = None) -> list[tuple[str, Entry]]:
        """``account``'s (book, entry) pairs by book, or the one of ``book`` if it has one."""
        self.fold()
        found = sorted((b, e) for (a, b), e in self._entries.items() if a == account)
        return found if book is None else [(b, e) for b, e in found if b == book]

    def response(
        self, symbol: str, account: str, book: str | None, as_of_seq: int
    ) -> tr.GetPositionsResponse:
        """``positions`` on the wire (``GetPositions``), counting every fill to ``as_of_seq``."""
        out = tr.GetPositionsResponse(
            symbol=symbol, as_of_seq=as_of_seq, missing_through_seq=self.missing_through_seq
        )
        for name, entry in self.positions(account, book):
            p = entry.position
            out.positions.add(
                book=name, qty=str(p.qty), avg_price=str(p.avg_price), gross_realised=str(p.gross),
                bought=str(p.bought), sold=str(p.sold), fills=p.fills,
                maker_notional=str(entry.maker_notional), taker_notional=str(entry.taker_notional),
            )  # fmt: skip
        return out

    def fold(self) -> None:
        """Book the queued fills (the reporter calls it at the end of every batch)."""
        queued = self._queued
        if not queued:
            return
        prices, sizes = self._prices, self._sizes
        entries = self._entries
        for account, client_order_id, side, price, lots, maker in queued:
            book, separator, _ = client_order_id.partition(BOOK_SEPARATOR)
            entry = entries.get((account, book if separator else ""))
            if entry is None:
                entry = self._entry(account, book if separator else "")
            px = prices.get(price)
            if px is None:
                px = self._decimal(prices, self.units.price(price), price)
            qty = sizes.get(lots)
            if qty is None:
                qty = self._decimal(sizes, self.units.qty(lots), lots)
            entry.position.apply(side, px, qty)
            if maker:
                entry.maker_notional += px * qty
            else:
                entry.taker_notional += px * qty
        queued.clear()

    @staticmethod
    def _decimal(cache: dict[int, Decimal], text: str, count: int) -> Decimal:
        # The Decimal of the units' text, as before, kept: flow repeats a few hundred
        # prices and sizes, and parsing the text again cost more than booking the fill.
        if len(cache) >= DECIMALS_CACHED:
            cache.clear()
        value = cache[count] = Decimal(text)
        return value

    def _entry(self, account: str, book: str) -> Entry:
        key = (account, book)
        entry = self._entries.get(key)
        if entry is not None:
            return entry
        if book == OVERFLOW_BOOK or self._books.get(account, 0) >= MAX_BOOKS:
            return self._entry_overflow(account)
        self._books[account] = self._books.get(account, 0) + 1
        entry = self._entries[key] = Entry(Position(self.units.spec.symbol))
        return entry

    def _entry_overflow(self, account: str) -> Entry:
        key = (account, OVERFLOW_BOOK)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = Entry(Position(self.units.spec.symbol))
        return entry

    # ------------------------------------------------------------------ snapshots

    def state(self) -> dict[str, Any]:
        """JSON-able, in a fixed order, so equal records write equal snapshots."""
        self.fold()
        return {
            "missing_through_seq": self.missing_through_seq,
            "entries": [
                [account, book, *_decimals(entry)]
                for (account, book), entry in sorted(self._entries.items())
            ],
        }

    def restore(self, state: dict[str, Any] | None, seq: int) -> None:
        """Continue from ``state()``; None (a snapshot from before the record) means every
        fill up to ``seq`` is missing."""
        self._entries.clear()
        self._books.clear()
        self._queued.clear()
        if state is None:
            self.missing_through_seq = seq
            return
        self.missing_through_seq = int(state["missing_through_seq"])
        symbol = self.units.spec.symbol
        for account, book, qty, avg, gross, bought, sold, fills, maker, taker in state["entries"]:
            position = Position(
                symbol, Decimal(qty), Decimal(avg), Decimal(gross), ZERO, Decimal(bought),
                Decimal(sold), int(fills),
            )  # fmt: skip
            self._entries[(str(account), str(book))] = Entry(
                position, Decimal(maker), Decimal(taker)
            )
            if book != OVERFLOW_BOOK:
                self._books[str(account)] = self._books.get(str(account), 0) + 1


def _decimals(entry: Entry) -> list[Any]:
    p = entry.position
    return [
        str(p.qty), str(p.avg_price), str(p.gross), str(p.bought), str(p.sold), p.fills,
        str(entry.maker_notional), str(entry.taker_notional),
    ]  # fmt: skip
