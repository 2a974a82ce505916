"""Market: the book plus the idempotency window, as replicated state."""

from __future__ import annotations

import hashlib

import pytest

from dome.core.commands import CancelOrder, NewOrder
from dome.core.events import Event, OrderRejected, OrderRested
from dome.core.instrument import Instrument
from dome.core.market import Market
from dome.core.reference import ReferenceBook
from dome.core.types import OrderType, RejectReason, Side

INSTRUMENT = Instrument("XYZ", min_qty=1, max_qty=1_000)


def new(
    seq: int, account: str = "alice", coid: str = "", price: int = 100, qty: int = 5
) -> NewOrder:
    return NewOrder(seq, seq * 10, seq, account, coid, Side.BUY, OrderType.LIMIT, price, qty)


def market(window: int = 100) -> Market:
    return Market(ReferenceBook(INSTRUMENT), dedup_window=window)


def test_repeat_returns_original_events_and_changes_nothing() -> None:
    m = market()
    first = m.apply(new(1, coid="c1"))
    assert not first.duplicate
    assert isinstance(first.events[-1], OrderRested)
    book_hash = m.book.state_hash()

    again = m.apply(new(2, coid="c1", price=99, qty=7))

    assert again.duplicate
    assert again.events == first.events
    assert m.book.state_hash() == book_hash
    assert [o.order_id for o in m.book.orders()] == [1]
    assert m.last_seq == 2


def test_same_id_other_account_is_a_new_order() -> None:
    m = market()
    m.apply(new(1, account="alice", coid="c1"))
    result = m.apply(new(2, account="bob", coid="c1"))
    assert not result.duplicate
    assert len(list(m.book.orders())) == 2


def test_empty_client_order_id_is_never_deduplicated() -> None:
    m = market()
    m.apply(new(1))
    assert not m.apply(new(2)).duplicate
    assert m.remembered() == 0


def test_rejected_order_is_remembered_with_its_reject() -> None:
    m = market()
    first = m.apply(new(1, coid="c1", qty=0))
    assert isinstance(first.events[0], OrderRejected)
    again = m.apply(new(2, coid="c1", qty=5))
    assert again.duplicate
    assert again.events == first.events
    assert list(m.book.orders()) == []


def test_invalid_client_order_id_is_not_remembered() -> None:
    m = market()
    result = m.apply(new(1, coid="x" * 65))
    assert result.events[0].reason == RejectReason.INVALID_CLIENT_ORDER_ID  # type: ignore[union-attr]
    assert m.remembered() == 0


def test_window_forgets_oldest_first() -> None:
    m = market(window=2)
    for seq, coid in enumerate(("a", "b", "c"), start=1):
        m.apply(new(seq, coid=coid, price=100 + seq))
    assert not m.is_known("alice", "a")
    assert m.is_known("alice", "b")
    assert m.is_known("alice", "c")
    assert not m.apply(new(4, coid="a", price=90)).duplicate


def test_cancel_is_never_a_duplicate() -> None:
    m = market()
    m.apply(new(1, coid="c1"))
    cancel = CancelOrder(2, 20, "alice", 1)
    assert not m.apply(cancel).duplicate
    assert not m.apply(cancel._replace(seq=3)).duplicate


def test_state_hash_covers_window_and_is_deterministic() -> None:
    commands = [new(1, coid="a"), new(2, coid="b", price=101), new(3, coid="a")]
    one, two = market(), market()
    for cmd in commands:
        one.apply(cmd)
        two.apply(cmd)
    assert one.state_hash() == two.state_hash()

    # Same book, nothing remembered: only the window differs, and so must the hash.
    forgetful = market(window=0)
    for cmd in commands:
        forgetful.apply(cmd)
    assert forgetful.book.state_hash() != one.book.state_hash()  # the retry rested twice
    amnesiac = market(window=0)
    for cmd in commands[:2]:
        amnesiac.apply(cmd)
    remembering = market()
    for cmd in commands[:2]:
        remembering.apply(cmd)
    assert amnesiac.book.state_hash() == remembering.book.state_hash()
    assert amnesiac.state_hash() != remembering.state_hash()


def test_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="dedup_window"):
        Market(ReferenceBook(INSTRUMENT), dedup_window=-1)


def test_state_hash_is_sha256_of_the_canonical_text() -> None:
    m = market()
    m.apply(new(1, coid="c1"))
    m.apply(new(2, account="bob", qty=0, coid="c2"))  # rejected: remembered with its reject
    m.apply(CancelOrder(3, 30, "alice", 1))
    # The text the native core must produce byte for byte (docs/book.md, "Everything").
    text = (
        f"{m.book.state_hash()}|3\n"
        "alice|c1|OrderAccepted:1,1,alice,c1,1,1,100,5;OrderRested:1,1,alice,1,100,5\n"
        "bob|c2|OrderRejected:2,2,bob,c2,8\n"
    )
    assert int(RejectReason.QTY_NOT_POSITIVE) == 8  # the reject reason above
    assert m.state_hash() == hashlib.sha256(text.encode()).hexdigest()


def test_equal_windows_hash_equal_and_any_difference_in_the_window_shows() -> None:
    original = market()
    for cmd in [new(1, coid="a"), new(2, coid="b", price=101), new(3, coid="c", qty=0)]:
        original.apply(cmd)
    snap = original.snapshot()

    def restored(seen: tuple[tuple[str, str, tuple[Event, ...]], ...]) -> Market:
        copy = market()
        copy.restore(snap._replace(seen=seen))
        assert copy.book.state_hash() == original.book.state_hash()  # only the window varies
        return copy

    assert restored(snap.seen).state_hash() == original.state_hash()
    reordered = restored((snap.seen[1], snap.seen[0], snap.seen[2]))
    fewer = restored(snap.seen[1:])
    other_events = restored((*snap.seen[:2], (*snap.seen[2][:2], snap.seen[0][2])))
    hashes = {m.state_hash() for m in (original, reordered, fewer, other_events)}
    assert len(hashes) == 4


def test_apply_batch_is_apply_in_order() -> None:
    commands = [new(1, coid="a"), new(2, coid="a"), CancelOrder(3, 30, "alice", 1), new(4)]
    one, two = market(), market()
    assert one.apply_batch(commands) == [two.apply(cmd) for cmd in commands]
    assert one.state_hash() == two.state_hash()
