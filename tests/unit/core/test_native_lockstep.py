"""The native core (``dome_native``) against the Python core, command for command.

Hypothesis drives a native ``Market`` and a ``Market(ReferenceBook)`` with the same random
commands (client order ids that repeat, bad enum values, prices and quantities far past
64 bits): every step must give equal events and state hashes and pass both books'
invariant checks; at the end the snapshots must be equal and each must restore into the
other core with an equal hash. The batch entry points must answer like ``apply`` one by
one, and ``apply_encoded`` must refuse hostile bytes with ``ValueError`` alone, changing
nothing.

Where no Rust toolchain exists these tests skip, saying so; where cargo exists (or
``DOME_CORE=native``) a missing extension fails them (``tests/native_core.py``).
"""

from __future__ import annotations

import contextlib
import random
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from native_fuzz import OutsideContract, Pair, mutate, valid_batch

import native_core
from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.instrument import Instrument
from dome.core.market import Market
from dome.core.reference import ReferenceBook
from dome.core.types import OrderType, RejectReason, SelfTradePrevention, Side
from dome.engine import effects
from dome.log.entries import encode_batch
from dome.log.errors import LogFormatError

INSTRUMENT = Instrument("NAT", min_qty=2, max_qty=50, min_price=95, max_price=105)
ACCOUNTS = ("a", "b", "c")
CLIENT_IDS = ("", "", "c1", "c2", "c3", "c4", "x" * 65, "tab\t")
#: Beyond the band and beyond 64 bits, both signs.
HUGE = (2**63, 2**64, 2**100, -(2**63) - 1, -(2**100))
PRICES = st.one_of(
    st.integers(INSTRUMENT.min_price - 1, INSTRUMENT.max_price + 1),
    st.sampled_from((0, -1, *HUGE)),
)
QTYS = st.one_of(st.integers(1, 12), st.sampled_from((0, -1, INSTRUMENT.max_qty + 1, *HUGE)))
#: Mostly members, sometimes values no member has (rejected), some beyond 64 bits.
SIDES = st.one_of(st.sampled_from(Side), st.sampled_from((0, 3, 2**70)))
TYPES = st.one_of(st.sampled_from(OrderType), st.sampled_from((0, 6, -(2**70))))
STPS = st.one_of(st.sampled_from(SelfTradePrevention), st.just(0))

SETTINGS = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def native() -> ModuleType:
    """``dome_native``: a failure if it should be built and is not, else skip."""
    return native_core.module()


new_order_spec = st.tuples(
    st.just("new"), st.sampled_from(ACCOUNTS), st.sampled_from(CLIENT_IDS), SIDES, TYPES,
    PRICES, QTYS, STPS,
)  # fmt: skip
target_spec = st.tuples(st.integers(0, 50), st.booleans(), st.integers(0, 9))
cancel_spec = st.tuples(st.just("cancel"), target_spec)
amend_spec = st.tuples(
    st.just("amend"), target_spec, st.one_of(st.just(0), QTYS), st.one_of(st.just(0), PRICES)
)
SPECS = st.lists(
    st.one_of(new_order_spec, new_order_spec, new_order_spec, cancel_spec, amend_spec),
    min_size=1,
    max_size=40,
)


def build(
    specs: list[tuple[Any, ...]], first_seq: int = 1, timestamp: int | None = None
) -> list[Command]:
    """Commands from specs: fresh order ids for new orders, cancels and amends aimed at
    earlier orders (by their owner, a stranger or at an id never used)."""
    owners: dict[int, str] = {}
    out: list[Command] = []
    for seq, spec in enumerate(specs, start=first_seq):
        stamp = seq * 10 if timestamp is None else timestamp
        if spec[0] == "new":
            _, account, cid, side, order_type, price, qty, stp = spec
            if order_type == OrderType.MARKET and price not in HUGE:
                price = 0
            owners[seq] = account
            out.append(NewOrder(seq, stamp, seq, account, cid, side, order_type, price, qty, stp))
            continue
        pick, by_owner, unknown = spec[1]
        ids = sorted(owners)
        order_id = ids[pick % len(ids)] if ids and unknown else seq + 1_000
        account = owners.get(order_id, "a") if by_owner else ACCOUNTS[pick % 3]
        if spec[0] == "cancel":
            out.append(CancelOrder(seq, stamp, account, order_id))
        else:
            out.append(AmendOrder(seq, stamp, account, order_id, spec[2], spec[3]))
    return out


def python_market(window: int) -> Market:
    return Market(ReferenceBook(INSTRUMENT), dedup_window=window)


@SETTINGS
@given(specs=SPECS, window=st.sampled_from((0, 3, 100)))
def test_native_market_moves_in_lockstep_with_the_python_market(
    native: ModuleType, specs: list[tuple[Any, ...]], window: int
) -> None:
    fast = native.Market(INSTRUMENT, dedup_window=window)
    spec = python_market(window)
    for cmd in build(specs):
        assert fast.apply(cmd) == spec.apply(cmd), cmd
        assert fast.state_hash() == spec.state_hash(), cmd
        assert fast.book.state_hash() == spec.book.state_hash()
        fast.book.check_invariants()
        spec.book.check_invariants()
        assert (fast.last_seq, fast.remembered()) == (spec.last_seq, spec.remembered())
    assert list(fast.book.orders()) == list(spec.book.orders())
    assert fast.book.depth(Side.BUY, 3) == spec.book.depth(Side.BUY, 3)
    assert fast.book.depth(Side.SELL, 99) == spec.book.depth(Side.SELL, 99)
    assert (fast.book.best_bid(), fast.book.best_ask()) == (
        spec.book.best_bid(),
        spec.book.best_ask(),
    )
    assert fast.book.next_trade_id == spec.book.next_trade_id

    snapshot = fast.snapshot()
    assert snapshot == spec.snapshot()
    into_python = python_market(window)
    into_python.restore(snapshot)
    into_native = native.Market(INSTRUMENT, dedup_window=window)
    into_native.restore(spec.snapshot())
    assert into_python.state_hash() == into_native.state_hash() == spec.state_hash()
    into_native.book.check_invariants()
    # The restored copies answer a repeat of every remembered id as the originals do.
    for seq, (account, cid, _events) in enumerate(snapshot.seen, start=spec.last_seq + 1):
        retry = NewOrder(seq, 0, seq, account, cid, Side.BUY, OrderType.LIMIT, 100, 5)
        assert into_native.apply(retry) == into_python.apply(retry) == spec.apply(retry)


@SETTINGS
@given(specs=SPECS, window=st.sampled_from((0, 3, 100)))
def test_batches_answer_like_one_command_at_a_time(
    native: ModuleType, specs: list[tuple[Any, ...]], window: int
) -> None:
    commands = build(specs, first_seq=5, timestamp=1_234)
    spec = python_market(window)
    expected = [spec.apply(cmd) for cmd in commands]
    batched = native.Market(INSTRUMENT, dedup_window=window)
    assert batched.apply_batch(commands) == expected
    assert batched.state_hash() == spec.state_hash()
    # The batch's effects as bytes: the same bytes from both cores, holding the results.
    reference_effects = effects.encode(5, python_market(window).apply_batch(commands))
    as_bytes = native.Market(INSTRUMENT, dedup_window=window)
    assert as_bytes.apply_batch_effects(commands) == reference_effects
    assert effects.decode(reference_effects) == expected
    assert as_bytes.state_hash() == spec.state_hash()
    try:
        data = encode_batch(INSTRUMENT.symbol, 3, commands, 4)
    except ValueError:
        return  # a value the log cannot carry (a bad enum, a price beyond 64 bits)
    encoded = native.Market(INSTRUMENT, dedup_window=window)
    assert encoded.apply_encoded(data) == expected
    assert encoded.state_hash() == spec.state_hash()
    encoded.book.check_invariants()
    bytes_in_out = native.Market(INSTRUMENT, dedup_window=window)
    assert bytes_in_out.apply_encoded_effects(data) == reference_effects
    assert bytes_in_out.state_hash() == spec.state_hash()


def _valid_commands() -> list[Command]:
    return [
        NewOrder(1, 9, 1, "a", "c1", Side.SELL, OrderType.LIMIT, 100, 5),
        NewOrder(2, 9, 2, "b", "", Side.BUY, OrderType.LIMIT, 101, 7),
        CancelOrder(3, 9, "b", 2),
        NewOrder(4, 9, 4, "a", "c1", Side.SELL, OrderType.LIMIT, 99, 1),
        AmendOrder(5, 9, "a", 4, 3, 0),
    ]


def test_encoded_batches_continue_one_another(native: ModuleType) -> None:
    commands = _valid_commands()
    market = native.Market(INSTRUMENT)
    spec = python_market(100)
    results = market.apply_encoded(encode_batch("NAT", 1, commands[:2], 0))
    results += market.apply_encoded(encode_batch("NAT", 1, commands[2:], 2))
    assert results == [spec.apply(cmd) for cmd in commands]
    assert results[3].duplicate
    assert market.state_hash() == spec.state_hash()
    assert market.last_seq == 5


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=200))
def test_random_bytes_are_refused_with_value_error_only(native: ModuleType, data: bytes) -> None:
    pair = Pair(native)
    # asserts: ValueError only, state kept on refusal, agrees with Python (where the Python
    # core itself breaks on the input, the native core only has to have survived it)
    with contextlib.suppress(OutsideContract):
        pair.feed(data)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32))
def test_damaged_batches_are_refused_or_applied_like_python(native: ModuleType, seed: int) -> None:
    rng = random.Random(seed)
    pair = Pair(native, seed)
    with contextlib.suppress(OutsideContract):
        pair.feed(mutate(rng, valid_batch(rng), valid_batch(rng)))


def test_a_refused_batch_changes_nothing(native: ModuleType) -> None:
    market = native.Market(INSTRUMENT)
    market.apply_encoded(encode_batch("NAT", 1, _valid_commands(), 0))
    before = market.state_hash()
    good = encode_batch("NAT", 1, [CancelOrder(6, 0, "a", 1)], 5)
    for bad, message in [
        (b"\xff", "not a LogBatch"),
        (encode_batch("NAT", 1, [CancelOrder(6, 0, "a", 1)], 5)[:-1], "not a LogBatch"),
        (good + b"\x32\x00", "no known kind"),  # a second, empty command
        (good.replace(b"\x18\x06", b"\x18\x00"), "first_seq 0"),
    ]:
        with pytest.raises(LogFormatError, match=message):
            market.apply_encoded(bad)
        assert market.state_hash() == before
    # A side the core does not define, in the second command: the first is not applied.
    two = encode_batch(
        "NAT",
        1,
        [CancelOrder(6, 0, "a", 1), NewOrder(7, 0, 7, "a", "", Side.BUY, OrderType.LIMIT, 99, 1)],
        5,
    )
    with pytest.raises(LogFormatError, match="unknown enum value 9"):
        market.apply_encoded(two.replace(b"\x20\x01", b"\x20\x09"))
    assert market.state_hash() == before


def test_a_batch_with_an_unreadable_command_changes_nothing(native: ModuleType) -> None:
    market = native.Market(INSTRUMENT)
    before = market.state_hash()
    good = NewOrder(1, 0, 1, "a", "c1", Side.BUY, OrderType.LIMIT, 100, 5)
    for bad, error in [
        ("not a command", TypeError),
        (good._replace(seq=2, order_id=-1), ValueError),
        (good._replace(seq=2, order_id=2**64), ValueError),
        (good._replace(seq=-2), ValueError),
        (good._replace(seq=2, account=7), TypeError),
        (good._replace(seq=2, price=100.5), TypeError),
        (good._replace(seq=2, account="\udc80"), ValueError),  # not encodable as UTF-8
    ]:
        with pytest.raises(error):
            market.apply_batch([good, bad])
        with pytest.raises(error):
            market.apply(bad)
        assert market.state_hash() == before
        assert market.last_seq == 0


@pytest.mark.parametrize(
    ("price", "qty", "reason"),
    [
        (100, 2**64, RejectReason.QTY_ABOVE_MAX),
        (100, 2**200, RejectReason.QTY_ABOVE_MAX),
        (100, -(2**64), RejectReason.QTY_NOT_POSITIVE),
        (2**64, 5, RejectReason.PRICE_OUT_OF_BAND),
        (-(2**64), 5, RejectReason.PRICE_REQUIRED),
    ],
)
def test_ints_beyond_64_bits_get_the_python_reject(
    native: ModuleType, price: int, qty: int, reason: RejectReason
) -> None:
    cmd = NewOrder(1, 0, 1, "a", "", Side.BUY, OrderType.LIMIT, price, qty)
    events = native.Book(Instrument("BIG")).place(cmd)
    assert events == ReferenceBook(Instrument("BIG")).place(cmd)
    assert events[0].reason == reason


def test_amends_beyond_64_bits_get_the_python_reject(native: ModuleType) -> None:
    place = NewOrder(1, 0, 1, "a", "x", Side.BUY, OrderType.LIMIT, 100, 5)
    books = [native.Book(Instrument("BIG")), ReferenceBook(Instrument("BIG"))]
    for book in books:
        book.place(place)
    for seq, (qty, price) in enumerate([(2**70, 0), (0, 2**70), (-(2**70), 0), (0, -(2**70))], 2):
        amend = AmendOrder(seq, 0, "a", 1, qty, price)
        native_events, python_events = (book.amend(amend) for book in books)
        assert native_events == python_events
        assert native_events[0].client_order_id == "x"


def test_queries_answer_like_the_python_book(native: ModuleType) -> None:
    fast, spec = native.Book(INSTRUMENT), ReferenceBook(INSTRUMENT)
    for cmd in _valid_commands():
        assert fast.apply(cmd) == spec.apply(cmd)
    for side in Side:
        for price in (99, 100, 101, 2**70, -(2**70)):
            assert fast.level(side, price) == spec.level(side, price)
        for levels in (-1, 0, 1, 5, 10**6):
            assert fast.depth(side, levels) == spec.depth(side, levels)
    for order_id in (1, 2, 4, 5, -1, 2**70):
        assert fast.get_order(order_id) == spec.get_order(order_id)
    with pytest.raises(KeyError):
        fast.level(3, 100)
    assert fast.snapshot() == spec.snapshot()
    assert fast.instrument is INSTRUMENT


def test_the_market_book_shares_the_market_state(native: ModuleType) -> None:
    market = native.Market(INSTRUMENT, dedup_window=2)
    market.apply(NewOrder(1, 0, 1, "a", "c1", Side.BUY, OrderType.LIMIT, 100, 5))
    book = market.book
    assert [o.order_id for o in book.orders()] == [1]
    book.place(NewOrder(2, 0, 2, "b", "", Side.SELL, OrderType.LIMIT, 100, 2))
    assert market.book.get_order(1).remaining == 3  # type: ignore[union-attr]
    assert market.instrument is INSTRUMENT
    market.dedup_window = 1
    assert market.dedup_window == 1
    with pytest.raises(ValueError, match="dedup_window"):
        native.Market(INSTRUMENT, dedup_window=-1)
