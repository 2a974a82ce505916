"""Positions and PnL from one's own fills, each counted once.

A fill is known to its owner twice or more: in the submit's result (the taker's side),
in the execution stream, again after a stream resumes on another replica, and again
when a restarted bot replays its history. Each (symbol, trade id, order id) is one
side of one trade, so that triple is the execution key, and a fill whose key was seen
is ignored. Positions use the average-cost method: a fill that adds to the position
moves the average entry price, one that reduces it realises
``(price - average) * qty`` (signed by the side closed), and one that crosses zero
does both, opening the rest at its own price.

Fees: instruments declare none today, so a ``FeeSchedule`` is given per symbol by the
caller (rates of the traded notional, maker and taker); realised PnL is net of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from dome.client.models import Fill
from dome.core.types import Side

ZERO = Decimal(0)

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
class Position:
    """One symbol's position: signed quantity (long > 0), average entry, PnL so far."""

    symbol: str
    qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    #: Closed PnL in quote currency, net of fees.
    realised: Decimal = ZERO
    fees: Decimal = ZERO
    bought: Decimal = ZERO
    sold: Decimal = ZERO
    fills: int = 0

    def unrealised(self, mark: Decimal | None) -> Decimal:
        """Open PnL at ``mark`` (zero without a mark or a position)."""
        if mark is None or not self.qty:
            return ZERO
        return (mark - self.avg_price) * self.qty

    def apply(self, side: Side, fill: Fill, fee: Decimal) -> None:
        """Book one fill (already known to be new)."""
        signed = fill.qty if side is Side.BUY else -fill.qty
        self.fills += 1
        self.fees += fee
        self.realised -= fee
        if side is Side.BUY:
            self.bought += fill.qty
        else:
            self.sold += fill.qty
        if not self.qty or (self.qty > 0) == (signed > 0):
            total = self.qty + signed
            self.avg_price = (self.avg_price * abs(self.qty) + fill.price * fill.qty) / abs(total)
            self.qty = total
            return
        closed = min(abs(signed), abs(self.qty))
        direction = 1 if self.qty > 0 else -1
        self.realised += (fill.price - self.avg_price) * closed * direction
        self.qty += signed
        if not self.qty:
            self.avg_price = ZERO
        elif (self.qty > 0) != (direction > 0):
            self.avg_price = fill.price  # crossed zero: the rest opened at this price


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
        self.position(symbol).apply(side, fill, fee)
        return True

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
