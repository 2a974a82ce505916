"""Hypothesis drives every book implementation with the same random commands.

After every command both books must have emitted the same events and hash alike, and
both must pass ``check_invariants()``. Independently of the reference, the events are
replayed into a tiny ledger (order id -> side, price, open qty) that must describe the
book exactly, and every accepted order's quantity must be accounted for (traded, rested
or cancelled): so the test still means something where the native core is not built
and the reference book runs alone.

Three accounts make self-trades common; an 11-tick band (with a tick either side out of
band) makes crossing common.
"""

from __future__ import annotations

from book_helpers import IMPLEMENTATIONS, Ledger
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dome.core.book_api import Book
from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.instrument import Instrument
from dome.core.reference import ReferenceBook
from dome.core.types import OrderType, SelfTradePrevention, Side

INSTRUMENT = Instrument("XYZ", min_qty=1, max_qty=40, min_price=95, max_price=105)
ACCOUNTS = ("a", "b", "c")
#: A tick either side of the band, so PRICE_OUT_OF_BAND happens too.
PRICES = st.integers(INSTRUMENT.min_price - 1, INSTRUMENT.max_price + 1)
#: Mostly valid, sometimes zero (QTY_NOT_POSITIVE) or above the maximum.
QTYS = st.one_of(st.integers(1, 12), st.sampled_from([0, INSTRUMENT.max_qty + 1]))
#: The implementations compared with the reference (the native core, where it is built).
OTHERS = [f for f in IMPLEMENTATIONS.values() if f is not None and f is not ReferenceBook]


class BookMachine(RuleBasedStateMachine):
    """One step = one command to every book; then everything must still agree."""

    def __init__(self) -> None:
        super().__init__()
        self.books: list[Book] = [ReferenceBook(INSTRUMENT)]
        self.books += [other(INSTRUMENT) for other in OTHERS]
        self.ledger = Ledger()
        self.seq = 0
        self.next_order_id = 1
        self.owners: dict[int, str] = {}

    def _apply(self, make: type[Command], *fields: object) -> None:
        self.seq += 1
        cmd = make(self.seq, self.seq * 10, *fields)  # type: ignore[arg-type]
        results = [book.apply(cmd) for book in self.books]
        for events in results[1:]:
            assert events == results[0], cmd
        self.ledger.apply(results[0])

    def _target(self, pick: int, unknown: bool) -> int:
        if unknown or not self.owners:
            return self.next_order_id + 1_000  # never used
        ids = sorted(self.owners)
        return ids[pick % len(ids)]

    @rule(
        side=st.sampled_from(Side),
        order_type=st.sampled_from(OrderType),
        account=st.sampled_from(ACCOUNTS),
        price=PRICES,
        qty=QTYS,
        stp=st.sampled_from(SelfTradePrevention),
        one_in_twenty=st.integers(0, 19),
    )
    def place(
        self,
        side: Side,
        order_type: OrderType,
        account: str,
        price: int,
        qty: int,
        stp: SelfTradePrevention,
        one_in_twenty: int,
    ) -> None:
        if order_type == OrderType.MARKET and one_in_twenty:
            price = 0  # mostly valid MARKET orders; one in twenty keeps a price: rejected
        order_id = self.next_order_id
        self.next_order_id += 1
        self.owners[order_id] = account
        self._apply(NewOrder, order_id, account, "", side, order_type, price, qty, stp)

    @rule(pick=st.integers(0, 100), by_owner=st.integers(0, 4), unknown=st.integers(0, 9))
    def cancel(self, pick: int, by_owner: int, unknown: int) -> None:
        order_id = self._target(pick, unknown == 0)
        account = self.owners.get(order_id, "a") if by_owner else ACCOUNTS[pick % 3]
        self._apply(CancelOrder, account, order_id)

    @rule(
        pick=st.integers(0, 100),
        by_owner=st.integers(0, 4),
        unknown=st.integers(0, 9),
        qty=st.one_of(st.just(0), QTYS, st.just(-1)),
        price=st.one_of(st.just(0), PRICES),
    )
    def amend(self, pick: int, by_owner: int, unknown: int, qty: int, price: int) -> None:
        order_id = self._target(pick, unknown == 0)
        account = self.owners.get(order_id, "a") if by_owner else ACCOUNTS[pick % 3]
        self._apply(AmendOrder, account, order_id, qty, price)

    @invariant()
    def books_agree_and_hold_together(self) -> None:
        hashes = {book.state_hash() for book in self.books}
        assert len(hashes) == 1, "the books' states differ"
        for book in self.books:
            book.check_invariants()
            assert book.last_seq == self.seq
        assert self.ledger.matches(self.books[0]), "events do not explain the book"


BookMachine.TestCase.settings = settings(
    max_examples=1000,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBookMachine = BookMachine.TestCase
