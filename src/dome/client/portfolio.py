"""Positions and PnL from one's own fills, each counted once.

A fill is known to its owner twice or more: in the submit's result (the taker's side),
in the execution stream, again after a stream resumes on another replica, and again
when a restarted bot replays its history. Each (symbol, trade id, order id) is one
side of one trade, so that triple is the execution key, and a fill whose key was seen
is ignored. Positions use the average-cost method (``dome.positions``, the same code
the exchange keeps its own record with, so ``Client.portfolio``'s positions equal what
a replay of the fills gives).

Fees: instruments declare none today, so a ``FeeSchedule`` is given per symbol by the
caller (rates of the traded notional, maker and taker); realised PnL is net of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from dome.client.models import Fill
from dome.core.types import Side
from dome.positions import ZERO, Position
from dome.v1 import trading_pb2

__all__ = [
    "BookRecord",
    "ExchangePositions",
    "ExecutionKey",
    "FeeSchedule",
    "Portfolio",
    "Position",
]

#: One side of one trade: (symbol, trade id, order id).
ExecutionKey = tuple[str, int, int]


@dataclass(frozen=True)
class FeeSchedule:
    """Fees as fractions of notional (``Decimal("0.001")`` is 10 bp); negative is a rebate."""

    maker: Decimal = ZERO
    taker: Decimal = ZERO

    def fee(self, fill: Fill) -> Decimal:
        return (self.maker if fill.maker else self.taker) * fill.price * fill.qty


@dataclass
class Portfolio:
    """Positions by symbol, fed with fills; a fill's second delivery changes nothing.

    >>> from dome.core.types import Side
    >>> book = Portfolio()
    >>> book.apply("X", 1, Side.BUY, Fill(1, Decimal(10), Decimal(2), False))
    True
    >>> book.apply("X", 1, Side.BUY, Fill(1, Decimal(10), Decimal(2), False))
    False
    >>> book.apply("X", 2, Side.SELL, Fill(2, Decimal(12), Decimal(1), True))
    True
    >>> p = book.position("X"); (p.qty, p.avg_price, p.realised)
    (Decimal('1'), Decimal('10'), Decimal('2'))
    """

    fees: Mapping[str, FeeSchedule] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    _seen: set[ExecutionKey] = field(default_factory=set, repr=False)

    def position(self, symbol: str) -> Position:
        """The position in ``symbol`` (flat if never traded)."""
        found = self.positions.get(symbol)
        if found is None:
            found = self.positions[symbol] = Position(symbol)
        return found

    def apply(self, symbol: str, order_id: int, side: Side, fill: Fill) -> bool:
        """Book ``fill`` of order ``order_id``; False if this execution was booked before."""
        key = (symbol, fill.trade_id, order_id)
        if key in self._seen:
            return False
        self._seen.add(key)
        schedule = self.fees.get(symbol)
        fee = schedule.fee(fill) if schedule is not None else ZERO
        self.position(symbol).apply(side, fill.price, fill.qty, fee)
        return True

    def seed(self, symbol: str, record: BookRecord) -> Position:
        """Start ``symbol``'s position from the exchange's record (fees by this schedule);
        fills after the record's seq are then applied as usual."""
        position = self.positions[symbol] = record.booked(self.fees.get(symbol))
        return position

    def seen(self, symbol: str, trade_id: int, order_id: int) -> bool:
        """Whether this execution is booked already."""
        return (symbol, trade_id, order_id) in self._seen

    def total_realised(self) -> Decimal:
        return sum((p.realised for p in self.positions.values()), ZERO)

    def total_unrealised(self, marks: Mapping[str, Decimal | None]) -> Decimal:
        """Open PnL over every symbol with a mark in ``marks``."""
        return sum((p.unrealised(marks.get(s)) for s, p in self.positions.items()), ZERO)

    def symbols(self) -> Iterable[str]:
        return self.positions.keys()


@dataclass(frozen=True)
class BookRecord:
    """The exchange's record of one book's position (``Client.positions``): fees unbooked,
    since the exchange does not know them; ``booked`` applies a schedule."""

    book: str
    #: ``fees`` zero, ``realised`` therefore gross.
    position: Position
    maker_notional: Decimal
    taker_notional: Decimal

    def booked(self, schedule: FeeSchedule | None) -> Position:
        """The position as ``Portfolio`` books it with ``schedule``'s fees."""
        p = self.position
        fees = ZERO
        if schedule is not None:
            fees = schedule.maker * self.maker_notional + schedule.taker * self.taker_notional
        return Position(p.symbol, p.qty, p.avg_price, p.gross, fees, p.bought, p.sold, p.fills)


@dataclass(frozen=True)
class ExchangePositions:
    """One symbol's positions as the exchange records them, as of one sequence number."""

    symbol: str
    #: Every fill up to this seq is counted, none after it: an execution stream resumed
    #: from ``as_of_seq + 1`` continues the record exactly.
    as_of_seq: int
    #: False when the engine lacks fills before some seq (restored from a snapshot of
    #: an engine that kept no record); the positions then count only later fills.
    complete: bool
    books: Mapping[str, BookRecord]

    def book(self, name: str) -> BookRecord:
        """``name``'s record (flat if it never traded)."""
        found = self.books.get(name)
        if found is None:
            return BookRecord(name, Position(self.symbol), ZERO, ZERO)
        return found

    @classmethod
    def from_proto(cls, msg: trading_pb2.GetPositionsResponse) -> ExchangePositions:
        def record(r: trading_pb2.PositionRecord) -> BookRecord:
            position = Position(
                msg.symbol, Decimal(r.qty), Decimal(r.avg_price), Decimal(r.gross_realised),
                ZERO, Decimal(r.bought), Decimal(r.sold), r.fills,
            )  # fmt: skip
            notionals = Decimal(r.maker_notional), Decimal(r.taker_notional)
            return BookRecord(r.book, position, *notionals)

        return cls(
            msg.symbol,
            msg.as_of_seq,
            msg.missing_through_seq == 0,
            {r.book: record(r) for r in msg.positions},
        )
