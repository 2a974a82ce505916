"""The engine benchmark's verification: it passes a consistent run and fails a lossy one."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dome.bench.engine import BookTotals, bench_instruments, summarize


def _load(count: int, acked_lots: int, taker_lots: int) -> dict[str, Any]:
    return {
        "acked": count,
        "rejected": 0,
        "mismatches": 0,
        "errors": 0,
        "exhausted": False,
        "elapsed": 2.0,
        "latencies": [[0.001, 100], [0.002, 99], [0.010, 1]],
        "per_symbol": {
            "XYZ": {
                "count": count,
                "seq_sum": count * (count + 1) // 2,
                "acked_lots": acked_lots,
                "taker_lots": taker_lots,
            }
        },
    }


# 4 orders of 10 lots: 12 lots traded (each trade fills a maker and a taker), 16 open.
GOOD = _load(4, 40, 12)
BOOK = {"XYZ": BookTotals(seq=4, book_lots=16, open_lots=16)}


def test_a_consistent_run_is_verified() -> None:
    result, problems = summarize([GOOD], BOOK)
    assert problems == []
    assert result == {
        "orders_per_sec": 2.0,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "acked": 4,
        "rejected": 0,
        "errors": 0,
        "verified": True,
    }


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("per_symbol", "XYZ", "acked_lots"), 41, "lots acknowledged"),
        (("per_symbol", "XYZ", "count"), 3, "sequence numbers"),
        (("per_symbol", "XYZ", "seq_sum"), 9, "sequence numbers"),
        (("errors",), 1, "stream(s) failed"),
        (("mismatches",), 2, "did not match"),
        (("acked",), 0, "no order"),
    ],
)
def test_a_lossy_run_is_not_verified(path: tuple[str, ...], value: int, complaint: str) -> None:
    load = copy.deepcopy(GOOD)
    target = load
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    result, problems = summarize([load], BOOK)
    assert result["verified"] is False
    assert any(complaint in p for p in problems), problems


def test_book_and_open_orders_must_agree() -> None:
    _, problems = summarize([GOOD], {"XYZ": BookTotals(seq=4, book_lots=15, open_lots=16)})
    assert any("book levels" in p for p in problems)


def test_bench_symbols_extend_the_built_in_set() -> None:
    names = [s.symbol for s in bench_instruments(6)]
    assert names == ["BTC-USD", "ETH-USD", "SOL-USD", "XYZ", "BTC-USD-4", "ETH-USD-5"]
