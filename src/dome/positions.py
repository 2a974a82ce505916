"""One position's accounting, the average-cost method, in exact decimals: pure.

The SDK books a bot's fills with it (``dome.client.portfolio``) and every engine keeps
the exchange's own record with it (``dome.engine.ledger``), so a position read back
from the exchange equals, field for field, the one a client computes from the same
fills in the same order: both run this code.

A fill that adds to the position moves the average entry price; one that reduces it
realises ``(price - average) * qty`` (signed by the side closed); one that crosses zero
does both, opening the rest at its own price. Fees are kept apart from the gross PnL
(``realised`` is net of them) because fees are linear in notional: a record that
keeps the maker and taker notionals gives anyone the fees of any schedule, which the
exchange cannot know (instruments declare none).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from dome.core.types import Side

ZERO = Decimal(0)


@dataclass
class Position:
    """One symbol's position: signed quantity (long > 0), average entry, PnL so far."""

    symbol: str
    qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    #: Closed PnL before fees, in quote currency.
    gross: Decimal = ZERO
    fees: Decimal = ZERO
    bought: Decimal = ZERO
    sold: Decimal = ZERO
    fills: int = 0

    @property
    def realised(self) -> Decimal:
        """Closed PnL in quote currency, net of fees."""
        return self.gross - self.fees

    def unrealised(self, mark: Decimal | None) -> Decimal:
        """Open PnL at ``mark`` (zero without a mark or a position)."""
        if mark is None or not self.qty:
            return ZERO
        return (mark - self.avg_price) * self.qty

    def apply(self, side: Side, price: Decimal, qty: Decimal, fee: Decimal = ZERO) -> None:
        """Book one fill of ``qty`` at ``price`` (already known to be new)."""
        signed = qty if side is Side.BUY else -qty
        self.fills += 1
        self.fees += fee
        if side is Side.BUY:
            self.bought += qty
        else:
            self.sold += qty
        if not self.qty or (self.qty > 0) == (signed > 0):
            total = self.qty + signed
            self.avg_price = (self.avg_price * abs(self.qty) + price * qty) / abs(total)
            self.qty = total
            return
        closed = min(abs(signed), abs(self.qty))
        direction = 1 if self.qty > 0 else -1
        self.gross += (price - self.avg_price) * closed * direction
        self.qty += signed
        if not self.qty:
            self.avg_price = ZERO
        elif (self.qty > 0) != (direction > 0):
            self.avg_price = price  # crossed zero: the rest opened at this price
