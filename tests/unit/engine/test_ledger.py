"""The exchange's position record: equal to the SDK's own booking, durable, bounded."""

from __future__ import annotations

import json
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from dome.client import FeeSchedule, Fill, Portfolio
from dome.client.portfolio import BookRecord
from dome.core.types import Side
from dome.engine.codec import Units
from dome.engine.ledger import MAX_BOOKS, OVERFLOW_BOOK, PositionLedger, book_of
from dome.instrument_spec import DEFAULT_INSTRUMENTS

SPEC = DEFAULT_INSTRUMENTS[0]
UNITS = Units(SPEC)

#: (book, side, price in ticks, lots, maker)
fills = st.lists(
    st.tuples(
        st.sampled_from(["mm", "taker", ""]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 5_000_000),
        st.integers(1, 50_000),
        st.booleans(),
    ),
    max_size=60,
)


def client_id(book: str, n: int) -> str:
    return f"{book}/run-{n}" if book else f"plain-{n}"


@settings(max_examples=300, deadline=None)
@given(fills)
def test_the_record_equals_what_the_sdk_books_from_the_same_fills(
    trades: list[tuple[str, Side, int, int, bool]],
) -> None:
    ledger = PositionLedger(UNITS)
    fees = FeeSchedule(maker=D("-0.0001"), taker=D("0.0007"))
    sdk: dict[str, Portfolio] = {}
    for n, (book, side, price, lots, maker) in enumerate(trades):
        ledger.fill("alice", client_id(book, n), side, price, lots, maker)
        fill = Fill(n, D(UNITS.price(price)), D(UNITS.qty(lots)), maker)
        sdk.setdefault(book, Portfolio({SPEC.symbol: fees})).apply(SPEC.symbol, n, side, fill)
    recorded = dict(ledger.positions("alice"))
    assert sorted(recorded) == sorted(sdk)
    for book, portfolio in sdk.items():
        entry = recorded[book]
        record = BookRecord(book, entry.position, entry.maker_notional, entry.taker_notional)
        assert record.booked(fees) == portfolio.position(SPEC.symbol)
    assert ledger.positions("bob") == []


def test_the_book_is_the_client_order_id_before_its_first_slash() -> None:
    assert [book_of(c) for c in ["mm/ab-1", "mm/x/y", "plain-3", "/lead", ""]] == [
        "mm", "mm", "", "", "",
    ]  # fmt: skip


def test_a_snapshot_restores_the_same_record_and_writes_the_same_bytes() -> None:
    ledger = PositionLedger(UNITS)
    for n in range(600):
        if n == 300:
            ledger.fold()  # half booked, half still queued when the state is taken
        side = Side.BUY if n % 3 else Side.SELL
        ledger.fill(["alice", "bob"][n % 2], client_id(["mm", ""][n % 5 == 0], n), side,
                    3_000_000 + n, 1 + n % 7, n % 2 == 0)  # fmt: skip
    state = ledger.state()
    restored = PositionLedger(UNITS)
    restored.restore(json.loads(json.dumps(state)), seq=99)
    assert restored.state() == state
    assert json.dumps(restored.state()) == json.dumps(state)
    assert restored.positions("alice") == ledger.positions("alice")
    assert restored.missing_through_seq == 0


def test_a_snapshot_without_a_record_says_what_is_missing() -> None:
    ledger = PositionLedger(UNITS)
    ledger.restore(None, seq=1234)
    assert ledger.missing_through_seq == 1234
    ledger.fill("alice", "mm/1", Side.BUY, 100, 2, False)
    (book, entry), = ledger.positions("alice")  # fmt: skip
    assert (book, entry.position.qty) == ("mm", D(UNITS.qty(2)))
    assert ledger.state()["missing_through_seq"] == 1234


def test_books_past_the_cap_share_one_entry_before_and_after_a_restore() -> None:
    live = PositionLedger(UNITS)
    for n in range(MAX_BOOKS):
        live.fill("alice", f"b{n}/1", Side.BUY, 100, 1, False)
    restored = PositionLedger(UNITS)
    restored.restore(json.loads(json.dumps(live.state())), seq=1)
    for ledger in (live, restored):
        ledger.fill("alice", "one-more/1", Side.BUY, 100, 1, False)
        ledger.fill("alice", "and-another/1", Side.SELL, 100, 1, False)
        ledger.fill("alice", f"{OVERFLOW_BOOK}/1", Side.BUY, 100, 1, False)
        ledger.fill("bob", "own-cap/1", Side.BUY, 100, 1, False)  # another account's count
    assert live.state() == restored.state()
    books = dict(live.positions("alice"))
    assert len(books) == MAX_BOOKS + 1
    assert "one-more" not in books
    assert books[OVERFLOW_BOOK].position.fills == 3
    assert [b for b, _ in live.positions("bob")] == ["own-cap"]
