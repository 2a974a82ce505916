"""Snapshot and restore: a restored book or market is indistinguishable from the original.

Equal hashes right after restore are not enough: a restore that lost a queue's order or
a stale price key would hash equal and still answer later commands differently. So the
tests keep driving the original and every restored copy (into both implementations) with
the same commands and compare every event, the hash and the invariants.
"""

from __future__ import annotations

import random

import pytest
from book_helpers import IMPLEMENTATIONS, BookFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from dome.core.book_api import Book, BookState, RestingOrder
from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.instrument import Instrument
from dome.core.market import Market, MarketSnapshot
from dome.core.reference import ReferenceBook
from dome.core.types import OrderType, SelfTradePrevention, Side

INSTRUMENT = Instrument("SNAP", min_qty=1, max_qty=100, min_price=90, max_price=110)
FACTORIES: list[BookFactory] = [f for f in IMPLEMENTATIONS.values() if f is not None]
TYPES = [OrderType.LIMIT] * 6 + [OrderType.POST_ONLY, OrderType.IOC, OrderType.FOK]


def random_commands(seed: int, count: int, first_seq: int = 1) -> list[Command]:
    """Weighted-random flow with client order ids that repeat, so the window matters."""
    rng = random.Random(seed)
    out: list[Command] = []
    for seq in range(first_seq, first_seq + count):
        roll = rng.random()
        account = rng.choice(["a", "b", "c"])
        target = rng.randint(max(1, seq - 40), seq) if seq > 1 else 1
        if roll < 0.15:
            out.append(CancelOrder(seq, seq, account, target))
        elif roll < 0.3:
            qty = rng.choice([0, rng.randint(1, 20)])
            price = rng.choice([0, rng.randint(95, 105)])
            out.append(AmendOrder(seq, seq, account, target, qty, price))
        else:
            order_type = rng.choice([*TYPES, OrderType.MARKET])
            price = 0 if order_type == OrderType.MARKET else rng.randint(95, 105)
            cid = rng.choice(["", "", f"c{rng.randint(1, 30)}"])
            side = rng.choice(list(Side))
            stp = rng.choice(list(SelfTradePrevention))
            qty = rng.randint(1, 20)
            out.append(NewOrder(seq, seq, seq, account, cid, side, order_type, price, qty, stp))
    return out


def _assert_same_future(original: Market, copies: list[Market], more: list[Command]) -> None:
    for cmd in more:
        expected = original.apply(cmd)
        for market in copies:
            assert market.apply(cmd) == expected, cmd
            market.book.check_invariants()
    for market in copies:
        assert market.state_hash() == original.state_hash()
        assert market.remembered() == original.remembered()


def _check_round_trip(factory: BookFactory, seed: int, before: int, after: int) -> None:
    original = Market(factory(INSTRUMENT), dedup_window=12)
    commands = random_commands(seed, before + after)
    for cmd in commands[:before]:
        original.apply(cmd)
    snapshot = original.snapshot()
    copies = []
    for target in FACTORIES:
        copy = Market(target(INSTRUMENT), dedup_window=12)
        copy.restore(snapshot)
        copy.book.check_invariants()
        assert copy.state_hash() == original.state_hash()
        assert copy.last_seq == original.last_seq
        copies.append(copy)
    _assert_same_future(original, copies, commands[before:])


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_restored_markets_behave_like_the_original(factory: BookFactory, seed: int) -> None:
    _check_round_trip(factory, seed, before=1_500, after=1_500)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    before=st.integers(0, 200),
    after=st.integers(0, 200),
    which=st.sampled_from(FACTORIES),
)
def test_round_trip_at_any_point(seed: int, before: int, after: int, which: BookFactory) -> None:
    _check_round_trip(which, seed, before, after)


def test_the_comparison_sees_a_lost_order() -> None:
    """Guard the test itself: a snapshot missing one order must be told apart."""
    original = Market(ReferenceBook(INSTRUMENT))
    for cmd in random_commands(7, 300):
        original.apply(cmd)
    snap = original.snapshot()
    assert snap.book.orders, "the flow should leave orders on the book"
    damaged = snap._replace(book=snap.book._replace(orders=snap.book.orders[1:]))
    copy = Market(ReferenceBook(INSTRUMENT))
    copy.restore(damaged)
    assert copy.state_hash() != original.state_hash()


def test_a_duplicate_after_restore_returns_the_original_events() -> None:
    original = Market(ReferenceBook(INSTRUMENT))
    first = NewOrder(1, 0, 1, "a", "x1", Side.BUY, OrderType.LIMIT, 100, 5)
    events = original.apply(first).events
    for factory in FACTORIES:
        copy = Market(factory(INSTRUMENT))
        copy.restore(original.snapshot())
        again = copy.apply(first._replace(seq=2, order_id=2))
        assert again.duplicate
        assert again.events == events


def test_a_smaller_window_keeps_the_newest_pairs() -> None:
    original = Market(ReferenceBook(INSTRUMENT), dedup_window=10)
    for seq in range(1, 6):
        original.apply(NewOrder(seq, 0, seq, "a", f"c{seq}", Side.BUY, OrderType.LIMIT, 95, 1))
    copy = Market(ReferenceBook(INSTRUMENT), dedup_window=2)
    copy.restore(original.snapshot())
    assert [copy.is_known("a", f"c{n}") for n in range(1, 6)] == [False] * 3 + [True] * 2


def _order(
    order_id: int, side: Side, price: int, priority: int, remaining: int = 5
) -> RestingOrder:
    return RestingOrder(
        order_id, "a", "", side, price, 5, remaining, priority, OrderType.LIMIT,
        SelfTradePrevention.CANCEL_RESTING,
    )  # fmt: skip


BUY, SELL = Side.BUY, Side.SELL


def _snap(orders: tuple[RestingOrder, ...]) -> BookState:
    return BookState("SNAP", 5, 1, orders)


#: name -> (what the error says, a snapshot no book could have produced)
BAD_SNAPSHOTS: dict[str, tuple[str, BookState]] = {
    "other symbol": ("not SNAP", BookState("XYZ", 5, 1, ())),
    "crossed": ("crossed", _snap((_order(1, BUY, 100, 1), _order(2, SELL, 100, 2)))),
    "duplicate id": ("twice", _snap((_order(1, BUY, 100, 1), _order(1, BUY, 99, 2)))),
    "priority out of order": (
        "time priority",
        _snap((_order(1, BUY, 100, 3), _order(2, BUY, 100, 2))),
    ),
    "bids worst first": (
        "levels out of order",
        _snap((_order(1, BUY, 99, 1), _order(2, BUY, 100, 2))),
    ),
    "nothing left": ("out of range", _snap((_order(1, BUY, 100, 1, remaining=0),))),
    "priority from the future": ("after the snapshot", _snap((_order(1, BUY, 100, 9),))),
}


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", sorted(BAD_SNAPSHOTS))
def test_inconsistent_snapshots_are_refused(factory: BookFactory, name: str) -> None:
    book: Book = factory(INSTRUMENT)
    match, snapshot = BAD_SNAPSHOTS[name]
    with pytest.raises(ValueError, match=match):
        book.restore(snapshot)


def test_a_market_snapshot_is_plain_data() -> None:
    market = Market(ReferenceBook(INSTRUMENT))
    market.apply(NewOrder(1, 0, 1, "a", "x", Side.SELL, OrderType.LIMIT, 101, 5))
    snap = market.snapshot()
    assert isinstance(snap, MarketSnapshot)
    assert snap.last_seq == 1
    assert snap.book.orders[0].order_id == 1
    assert snap.seen[0][:2] == ("a", "x")
