"""Positions from fills: average cost, realised PnL across a flip, fees, each fill once."""

from __future__ import annotations

from decimal import Decimal as D

from dome.client import FeeSchedule, Fill, Portfolio
from dome.core.types import Side


def fill(trade_id: int, price: str, qty: str, maker: bool = False) -> Fill:
    return Fill(trade_id, D(price), D(qty), maker)


def test_average_cost_and_realised_pnl_through_a_flip() -> None:
    book = Portfolio()
    book.apply("X", 1, Side.BUY, fill(1, "10", "2"))
    book.apply("X", 2, Side.BUY, fill(2, "13", "1"))
    p = book.position("X")
    assert (p.qty, p.avg_price) == (D(3), D(11))
    book.apply("X", 3, Side.SELL, fill(3, "12", "5"))  # closes 3 (+3), opens 2 short at 12
    assert (p.qty, p.avg_price, p.realised) == (D(-2), D(12), D(3))
    assert p.unrealised(D(11)) == D(2)
    book.apply("X", 4, Side.BUY, fill(4, "11", "2"))
    assert (p.qty, p.avg_price, p.realised) == (D(0), D(0), D(5))
    assert (p.bought, p.sold, p.fills) == (D(5), D(5), 4)


def test_a_fill_delivered_twice_is_booked_once() -> None:
    book = Portfolio()
    assert book.apply("X", 7, Side.SELL, fill(1, "10", "2", maker=True))
    # Same trade, same order: the result, the stream, a resumed stream, a replay.
    assert not book.apply("X", 7, Side.SELL, fill(1, "10", "2", maker=True))
    # Same trade, the other side (one's own other order): a different execution.
    assert book.apply("X", 8, Side.BUY, fill(1, "10", "2"))
    assert book.position("X").qty == 0


def test_fees_come_off_realised_pnl() -> None:
    book = Portfolio({"X": FeeSchedule(maker=D("-0.0001"), taker=D("0.001"))})
    book.apply("X", 1, Side.BUY, fill(1, "100", "10"))  # taker: 1.0
    book.apply("X", 2, Side.SELL, fill(2, "101", "10", maker=True))  # rebate: 0.101
    p = book.position("X")
    assert p.fees == D("0.899")
    assert p.realised == D(10) - D("0.899")
    assert book.total_realised() == p.realised
