"""Long seeded random runs: many more commands per run than hypothesis can afford.

Deep books, long-lived orders and thousands of amends are where a book's bookkeeping
(lazy deletion, cached best prices, level totals) goes wrong; short hypothesis runs
rarely get there. Every command goes to every implementation and their events must be
equal; the event ledger (see ``book_helpers.Ledger``) must explain the book; hashes and
invariants are compared every few hundred commands and at the end.
"""

from __future__ import annotations

import random

import pytest
from book_helpers import IMPLEMENTATIONS, Ledger

from dome.core.book_api import Book
from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.events import Trade
from dome.core.instrument import Instrument
from dome.core.reference import ReferenceBook
from dome.core.types import OrderType, SelfTradePrevention, Side

INSTRUMENT = Instrument("STRESS", min_qty=1, max_qty=500, min_price=900, max_price=1_100)
MID = 1_000
ACCOUNTS = [f"acct{n}" for n in range(6)]
COMMANDS = 20_000
CHECK_EVERY = 500

#: What a step does, and how often (weights, not percentages).
MIX = {
    "limit": 40,
    "post_only": 8,
    "ioc": 10,
    "fok": 4,
    "market": 4,
    "cancel": 17,
    "amend": 14,
    "bad": 3,
}


class CommandSource:
    """Weighted-random commands; cancels and amends mostly target orders still open.

    "Open" comes from the event ledger, not from any book, so every implementation is
    fed exactly the same commands.
    """

    def __init__(self, seed: int, ledger: Ledger) -> None:
        self.rng = random.Random(seed)
        self.ledger = ledger
        self.owners: dict[int, str] = {}
        self.ids: list[int] = []

    def _target(self) -> int:
        rng = self.rng
        if rng.random() < 0.05:
            return rng.choice([10**9, *self.ids[-50:]])  # unknown, or likely gone by now
        for _ in range(8):
            order_id = rng.choice(self.ids[-2_000:])
            if order_id in self.ledger.open:
                break
        return order_id

    def next(self, seq: int) -> Command:
        rng = self.rng
        kind = rng.choices(list(MIX), list(MIX.values()))[0]
        if kind in ("cancel", "amend") and self.ids:
            order_id = self._target()
            account = self.owners.get(order_id, "nobody")
            if rng.random() < 0.03:
                account = rng.choice(ACCOUNTS)  # sometimes not the owner
            if kind == "cancel":
                return CancelOrder(seq, seq, account, order_id)
            qty = rng.choice([0, 0, rng.randint(1, 60)])
            price = rng.choice([0, MID + rng.randint(-25, 25)])
            return AmendOrder(seq, seq, account, order_id, qty, price)
        side = rng.choice([Side.BUY, Side.SELL])
        # buyers lean low and sellers high, so a deep book builds up and still crosses
        lean = -5 if side == Side.BUY else 5
        price = MID + lean + rng.randint(-20, 20)
        qty = rng.randint(1, 60)
        order_type = {
            "post_only": OrderType.POST_ONLY,
            "ioc": OrderType.IOC,
            "fok": OrderType.FOK,
            "market": OrderType.MARKET,
        }.get(kind, OrderType.LIMIT)
        if order_type == OrderType.MARKET:
            price = 0
        if kind == "bad":
            price, qty = rng.choice([(0, qty), (price, 0), (2_000, qty), (price, 10_000)])
        account = rng.choice(ACCOUNTS)
        stp = rng.choice(list(SelfTradePrevention))
        self.owners[seq] = account
        self.ids.append(seq)
        return NewOrder(seq, seq, seq, account, "", side, order_type, price, qty, stp)


@pytest.mark.parametrize("seed", [11, 22, 33, 44, 55])
def test_long_random_runs_agree(seed: int) -> None:
    books: list[Book] = [ReferenceBook(INSTRUMENT)]
    books += [f(INSTRUMENT) for f in IMPLEMENTATIONS.values() if f not in (None, ReferenceBook)]
    ledger = Ledger()
    source = CommandSource(seed, ledger)
    trades = 0
    for seq in range(1, COMMANDS + 1):
        cmd = source.next(seq)
        results = [book.apply(cmd) for book in books]
        for events in results[1:]:
            assert events == results[0], cmd
        ledger.apply(results[0])
        trades += sum(1 for e in results[0] if isinstance(e, Trade))
        if cmd.seq % CHECK_EVERY == 0 or cmd.seq == COMMANDS:
            assert len({book.state_hash() for book in books}) == 1, cmd.seq
            for book in books:
                book.check_invariants()
            assert ledger.matches(books[0])
    # the flow must really exercise matching and keep a book worth the name
    assert trades > 2_000
    assert sum(1 for _ in books[0].orders()) > 50
