"""Instrument specifications in decimals, and the exact conversion to ticks and lots.

Users speak decimals ("101.25"); the book speaks integers. This module is the only
place that crosses between the two, for the engine, the SDK and the CLI alike, so a
price is off-tick in exactly one way everywhere. No floats: ``Decimal`` in, ``int`` out.

Reading and checking specs needs nothing of the book core, and the operator validates an
Exchange's instruments with this module alone, so the core's names (the integer
``Instrument``, the reject reasons) are imported only where a conversion needs them:
importing this module does not load the book (``tests/unit/test_layering.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dome.core.instrument import Instrument
    from dome.core.types import RejectReason

#: Longest decimal text accepted, in characters.
MAX_DECIMAL_TEXT = 40
#: Plain decimal text: sign, ASCII digits, one point, a short exponent.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")


class ConversionError(ValueError):
    """A decimal value does not fit an instrument's grid; carries the reject reason."""

    def __init__(self, reason: RejectReason, value: str) -> None:
        super().__init__(f"{reason.message}: {value!r}")
        self.reason = reason
        self.value = value


class InstrumentFileError(ValueError):
    """An instruments file is malformed; the message says where."""


def parse_decimal(text: str | Decimal | int) -> Decimal:
    """A finite Decimal from plain ASCII decimal text; raises ``InvalidOperation`` otherwise.

    Only ``[+-]digits[.digits]`` with an optional exponent is accepted: ``Decimal`` alone
    would also take ``"1_000"``, ``"NaN"`` and non-ASCII digits, none of which belongs in
    an order.

    >>> parse_decimal(" 1.50 ")
    Decimal('1.50')
    >>> parse_decimal("1_000")
    Traceback (most recent call last):
    ...
    decimal.InvalidOperation: not a decimal number: '1_000'
    """
    if isinstance(text, Decimal):
        value = text
    else:
        raw = str(text).strip()
        # Length first: no real price or size needs more, and the engine remembers
        # recent conversions by their text, which must stay small.
        if len(raw) > MAX_DECIMAL_TEXT or not _DECIMAL_TEXT.fullmatch(raw):
            raise InvalidOperation(f"not a decimal number: {text!r}")
        value = Decimal(raw)
    if not value.is_finite():
        raise InvalidOperation(f"not a finite number: {text!r}")
    return value


def format_decimal(value: Decimal) -> str:
    """Plain notation without exponent or trailing zeros: ``Decimal('1.500') -> '1.5'``.

    >>> format_decimal(Decimal("1.500")), format_decimal(Decimal("100")), format_decimal(Decimal(0))
    ('1.5', '100', '0')
    """
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


@dataclass(frozen=True)
class InstrumentSpec:
    """One symbol's rules as users write them (decimals), convertible to ticks and lots.

    >>> spec = InstrumentSpec.from_dict({"symbol": "XYZ", "tick_size": "0.01", "lot_size": "1"})
    >>> spec.price_to_ticks("101.25"), spec.ticks_to_price(10125)
    (10125, '101.25')
    """

    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_price: Decimal | None = None
    max_price: Decimal | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> InstrumentSpec:
        """Build from the instruments-file form; raises ``InstrumentFileError``."""
        try:
            symbol = str(raw["symbol"])
            tick = parse_decimal(raw.get("tick_size", "0.01"))
            lot = parse_decimal(raw.get("lot_size", "1"))
            min_qty = parse_decimal(raw.get("min_qty", lot))
            max_qty = parse_decimal(raw.get("max_qty", "1000000"))
            min_price = parse_decimal(raw["min_price"]) if raw.get("min_price") else None
            max_price = parse_decimal(raw["max_price"]) if raw.get("max_price") else None
        except KeyError as exc:
            raise InstrumentFileError(f"instrument is missing {exc.args[0]!r}: {raw}") from None
        except (InvalidOperation, TypeError) as exc:
            raise InstrumentFileError(f"instrument has a bad number: {raw} ({exc})") from None
        if not symbol or len(symbol) > 32 or not symbol.isascii() or not symbol.isprintable():
            raise InstrumentFileError(f"bad symbol {symbol!r}: 1-32 printable ASCII characters")
        if tick <= 0 or lot <= 0:
            raise InstrumentFileError(f"{symbol}: tick_size and lot_size must be positive")
        spec = cls(symbol, tick, lot, min_qty, max_qty, min_price, max_price)
        for name in ("min_qty", "max_qty"):
            value = getattr(spec, name)
            if value <= 0 or value % lot:
                raise InstrumentFileError(f"{symbol}: {name} must be a positive multiple of lot")
        if min_qty > max_qty:
            raise InstrumentFileError(f"{symbol}: min_qty is above max_qty")
        for name in ("min_price", "max_price"):
            value = getattr(spec, name)
            if value is not None and (value <= 0 or value % tick):
                raise InstrumentFileError(f"{symbol}: {name} must be a positive multiple of tick")
        return spec

    def to_dict(self) -> dict[str, str]:
        """The instruments-file form (decimal strings)."""
        out = {
            "symbol": self.symbol,
            "tick_size": format_decimal(self.tick_size),
            "lot_size": format_decimal(self.lot_size),
            "min_qty": format_decimal(self.min_qty),
            "max_qty": format_decimal(self.max_qty),
        }
        if self.min_price is not None:
            out["min_price"] = format_decimal(self.min_price)
        if self.max_price is not None:
            out["max_price"] = format_decimal(self.max_price)
        return out

    def to_core(self) -> Instrument:
        """The integer form the book uses."""
        from dome.core.instrument import MAX_UNITS, Instrument

        return Instrument(
            symbol=self.symbol,
            min_qty=int(self.min_qty / self.lot_size),
            max_qty=int(self.max_qty / self.lot_size),
            min_price=int(self.min_price / self.tick_size) if self.min_price else 1,
            max_price=int(self.max_price / self.tick_size) if self.max_price else MAX_UNITS,
        )

    def price_to_ticks(self, price: str | Decimal) -> int:
        """Exact ticks for ``price``; ``ConversionError`` if not a number or off the grid."""
        from dome.core.types import RejectReason

        return _to_units(
            price,
            self.tick_size,
            RejectReason.INVALID_PRICE,
            RejectReason.PRICE_OFF_TICK,
            RejectReason.PRICE_OUT_OF_BAND,
        )

    def qty_to_lots(self, qty: str | Decimal) -> int:
        """Exact lots for ``qty``; ``ConversionError`` if not a number or off the grid."""
        from dome.core.types import RejectReason

        return _to_units(
            qty,
            self.lot_size,
            RejectReason.INVALID_QTY,
            RejectReason.QTY_OFF_LOT,
            RejectReason.QTY_ABOVE_MAX,
        )

    def ticks_to_price(self, ticks: int) -> str:
        """Decimal text of a tick count."""
        return format_decimal(ticks * self.tick_size)

    def lots_to_qty(self, lots: int) -> str:
        """Decimal text of a lot count."""
        return format_decimal(lots * self.lot_size)


def _to_units(
    text: str | Decimal,
    unit: Decimal,
    not_a_number: RejectReason,
    off_grid: RejectReason,
    too_large: RejectReason,
) -> int:
    from dome.core.instrument import MAX_UNITS

    try:
        value = parse_decimal(text)
    except (InvalidOperation, ValueError):
        raise ConversionError(not_a_number, str(text)) from None
    if value.adjusted() > 30:
        # Far beyond MAX_UNITS whatever the unit; also keeps divmod inside the context's
        # precision, where it would otherwise raise InvalidOperation.
        raise ConversionError(too_large, str(text))
    try:
        units, rest = divmod(value, unit)
    except InvalidOperation:
        raise ConversionError(too_large, str(text)) from None
    if rest:
        raise ConversionError(off_grid, str(text))
    if abs(units) >= MAX_UNITS:
        raise ConversionError(too_large, str(text))
    # Sign and zero are the book's to judge (QTY_NOT_POSITIVE, PRICE_REQUIRED).
    return int(units)


def load_instruments(path: str | Path) -> dict[str, InstrumentSpec]:
    """Read an instruments file: a JSON list of instrument objects, keyed by symbol."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InstrumentFileError(f"cannot read instruments file {path}: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise InstrumentFileError(f"{path}: expected a non-empty JSON list of instruments")
    specs: dict[str, InstrumentSpec] = {}
    for item in raw:
        if not isinstance(item, dict):
            raise InstrumentFileError(f"{path}: every instrument must be an object: {item!r}")
        spec = InstrumentSpec.from_dict(item)
        if spec.symbol in specs:
            raise InstrumentFileError(f"{path}: symbol {spec.symbol} appears twice")
        specs[spec.symbol] = spec
    return specs


#: What `dome up` trades when no instruments file is given.
DEFAULT_INSTRUMENTS: tuple[InstrumentSpec, ...] = tuple(
    InstrumentSpec.from_dict(d)
    for d in (
        {
            "symbol": "BTC-USD",
            "tick_size": "0.01",
            "lot_size": "0.0001",
            "min_qty": "0.0001",
            "max_qty": "1000",
        },
        {
            "symbol": "ETH-USD",
            "tick_size": "0.01",
            "lot_size": "0.001",
            "min_qty": "0.001",
            "max_qty": "10000",
        },
        {
            "symbol": "SOL-USD",
            "tick_size": "0.001",
            "lot_size": "0.01",
            "min_qty": "0.01",
            "max_qty": "100000",
        },
        {
            "symbol": "XYZ",
            "tick_size": "0.01",
            "lot_size": "1",
            "min_qty": "1",
            "max_qty": "1000000",
        },
    )
)
