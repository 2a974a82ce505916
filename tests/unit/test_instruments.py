"""Decimal <-> ticks/lots conversion: exact, on the grid or a typed reject, never a crash."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from dome.core.types import RejectReason
from dome.instrument_spec import (
    ConversionError,
    InstrumentFileError,
    InstrumentSpec,
    format_decimal,
    load_instruments,
)

SPEC = InstrumentSpec.from_dict(
    {"symbol": "XYZ", "tick_size": "0.01", "lot_size": "0.5", "min_qty": "1", "max_qty": "100"}
)


@pytest.mark.parametrize(
    ("text", "ticks"),
    [("101.25", 10125), ("0.01", 1), ("7", 700), ("1e3", 100_000), (".5", 50), ("-2", -200)],
)
def test_prices_on_the_grid_convert_exactly(text: str, ticks: int) -> None:
    assert SPEC.price_to_ticks(text) == ticks
    assert Decimal(SPEC.ticks_to_price(ticks)) == Decimal(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("101.255", RejectReason.PRICE_OFF_TICK),
        ("1e-9999", RejectReason.PRICE_OFF_TICK),
        ("abc", RejectReason.INVALID_PRICE),
        ("", RejectReason.INVALID_PRICE),
        ("NaN", RejectReason.INVALID_PRICE),
        ("Infinity", RejectReason.INVALID_PRICE),
        ("1_000", RejectReason.INVALID_PRICE),
        ("\u0661\u0662", RejectReason.INVALID_PRICE),
        ("0" * 40 + "1", RejectReason.INVALID_PRICE),  # valid digits, but too long to be real
        ("1e30", RejectReason.PRICE_OUT_OF_BAND),
        ("9" * 40, RejectReason.PRICE_OUT_OF_BAND),
    ],
)
def test_bad_prices_are_typed_rejects(text: str, reason: RejectReason) -> None:
    with pytest.raises(ConversionError) as caught:
        SPEC.price_to_ticks(text)
    assert caught.value.reason is reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0.3", RejectReason.QTY_OFF_LOT),
        ("x", RejectReason.INVALID_QTY),
        ("1e40", RejectReason.QTY_ABOVE_MAX),
    ],
)
def test_bad_quantities_are_typed_rejects(text: str, reason: RejectReason) -> None:
    with pytest.raises(ConversionError) as caught:
        SPEC.qty_to_lots(text)
    assert caught.value.reason is reason


def test_core_bounds_are_in_lots() -> None:
    core = SPEC.to_core()
    assert (core.min_qty, core.max_qty) == (2, 200)


def test_format_decimal_drops_trailing_zeros_and_exponents() -> None:
    assert format_decimal(Decimal("1.500")) == "1.5"
    assert format_decimal(Decimal("1E+2")) == "100"
    assert format_decimal(Decimal("0.000")) == "0"


def test_instruments_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "instruments.json"
    path.write_text(json.dumps([SPEC.to_dict()]))
    assert load_instruments(path) == {"XYZ": SPEC}


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"symbol": "XYZ"}',
        '[{"tick_size": "0.01"}]',
        '[{"symbol": "XYZ", "tick_size": "0"}]',
        '[{"symbol": "XYZ", "lot_size": "1", "min_qty": "0.5"}]',
        '[{"symbol": "XYZ", "min_qty": "10", "max_qty": "5"}]',
        '[{"symbol": "XYZ"}, {"symbol": "XYZ"}]',
        '[{"symbol": ""}]',
        '[{"symbol": "XYZ", "tick_size": "abc"}]',
    ],
)
def test_bad_instruments_files_are_refused_with_a_reason(tmp_path: Path, content: str) -> None:
    path = tmp_path / "instruments.json"
    path.write_text(content)
    with pytest.raises(InstrumentFileError):
        load_instruments(path)
