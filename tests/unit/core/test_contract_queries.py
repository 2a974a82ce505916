"""The book contract (docs/book.md) for queries, state hashes and ``outcome()``, on every core.

Queries describe the book without changing it; the state hash is a function of the
history (priority included); ``dome.core.outcome.outcome`` folds a command's events into
an order's status, fills and quantities as a client sees them.
"""

from __future__ import annotations

import pytest
from book_helpers import (
    INSTRUMENT,
    POST_ONLY,
    REJECT_INCOMING,
    BookFactory,
    Session,
)
from book_script import play

from dome.core.book_api import Level, RestingOrder
from dome.core.outcome import Fill, Outcome, outcome
from dome.core.types import OrderStatus, RejectReason, Side

NEW = OrderStatus.NEW
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
CANCELLED = OrderStatus.CANCELLED
REJECTED = OrderStatus.REJECTED
NO_REASON = RejectReason.NONE
QTY_BELOW_MIN = RejectReason.QTY_BELOW_MIN


def test_queries_describe_the_book(session: Session) -> None:
    session.buy(1, "alice", 100, 5)
    session.buy(2, "carol", 100, 3)
    session.buy(3, "alice", 98, 2)
    session.sell(4, "dave", 103, 7, POST_ONLY, REJECT_INCOMING)
    session.sell(5, "dave", 101, 4)
    book = session.book
    assert (book.best_bid(), book.best_ask()) == (100, 101)
    assert book.depth(Side.BUY, 5) == [Level(100, 8, 2), Level(98, 2, 1)]
    assert book.depth(Side.SELL, 1) == [Level(101, 4, 1)]
    assert book.depth(Side.SELL, 0) == []
    assert book.level(Side.SELL, 103) == Level(103, 7, 1)
    assert book.level(Side.SELL, 102) == Level(102, 0, 0)
    assert book.get_order(4) == RestingOrder(
        4, "dave", "", Side.SELL, 103, 7, 7, 4, POST_ONLY, REJECT_INCOMING
    )
    assert book.get_order(99) is None
    assert [o.order_id for o in book.orders()] == [1, 2, 3, 5, 4]


def test_client_order_id_is_kept_on_the_resting_order(session: Session) -> None:
    assert session.order(Side.SELL, 1, "alice", 100, 3, client_order_id="abc-1") == [
        "accepted 1 alice SELL LIMIT 3@100 cid=abc-1",
        "rested 1 alice SELL 3@100",
    ]
    session.amend("alice", 1, price=101)
    resting = session.resting(1)
    assert resting.client_order_id == "abc-1"


def _script(session: Session) -> None:
    session.buy(1, "alice", 100, 5)
    session.sell(2, "bob", 102, 5)
    session.sell(3, "carol", 100, 2)
    session.amend("bob", 2, qty=3)


def test_state_hash_is_a_function_of_the_history(book_factory: BookFactory) -> None:
    first, second = Session(book_factory(INSTRUMENT)), Session(book_factory(INSTRUMENT))
    _script(first)
    _script(second)
    assert first.book.state_hash() == second.book.state_hash()
    second.cancel("nobody", 42)  # a reject changes only last_seq, which is hashed
    assert first.book.state_hash() != second.book.state_hash()


def test_state_hash_sees_priority(book_factory: BookFactory) -> None:
    first, second = Session(book_factory(INSTRUMENT)), Session(book_factory(INSTRUMENT))
    first.buy(1, "alice", 100, 5)
    first.buy(2, "carol", 100, 5)
    second.buy(2, "carol", 100, 5)
    second.buy(1, "alice", 100, 5)
    assert first.book.state_hash() != second.book.state_hash()


OUTCOMES = [
    pytest.param("buy 1 alice 100 5", 1, Outcome(1, NEW, NO_REASON, 0, 5, 0, ()), id="resting-new"),
    pytest.param(
        "sell 1 alice 100 2 \n sell 2 alice 101 2 \n buy 3 bob 101 6",
        3,
        Outcome(3, PARTIALLY_FILLED, NO_REASON, 4, 2, 0, (Fill(1, 100, 2), Fill(2, 101, 2))),
        id="partly-filled-resting-taker",
    ),
    # the same events, seen by a maker
    pytest.param(
        "sell 1 alice 100 2 \n sell 2 alice 101 2 \n buy 3 bob 101 6",
        1,
        Outcome(1, FILLED, NO_REASON, 2, 0, 0, (Fill(1, 100, 2),)),
        id="filled-maker",
    ),
    pytest.param(
        "sell 1 alice 100 4 \n buy 2 bob 100 4",
        2,
        Outcome(2, FILLED, NO_REASON, 4, 0, 0, (Fill(1, 100, 4),)),
        id="filled-taker",
    ),
    pytest.param(
        "sell 1 alice 100 2 \n buy 2 bob 100 5 IOC",
        2,
        Outcome(2, CANCELLED, NO_REASON, 2, 0, 3, (Fill(1, 100, 2),)),
        id="ioc-remainder-cancelled",
    ),
    pytest.param(
        "buy 1 alice 100 1", 1, Outcome(1, REJECTED, QTY_BELOW_MIN, 0, 0, 0, ()), id="reject"
    ),
    pytest.param(
        "sell 1 bob 100 3 \n buy 2 bob 100 4 LIMIT REJECT_INCOMING",
        2,
        Outcome(2, CANCELLED, NO_REASON, 0, 0, 4, ()),
        id="self-trade-cancelled-taker",
    ),
    pytest.param(
        "buy 1 alice 100 6 \n amend alice 1 qty=4",
        1,
        Outcome(1, NEW, NO_REASON, 0, 4, 0, ()),
        id="amend",
    ),
    pytest.param(
        "buy 1 alice 100 6 \n amend alice 1 qty=4 \n cancel alice 1",
        1,
        Outcome(1, CANCELLED, NO_REASON, 0, 0, 4, ()),
        id="cancel-after-amend",
    ),
    pytest.param(
        "sell 1 carol 101 2 \n buy 2 alice 99 5 \n amend alice 2 price=101",
        2,
        Outcome(2, PARTIALLY_FILLED, NO_REASON, 2, 3, 0, (Fill(1, 101, 2),)),
        id="amend-that-trades",
    ),
]


@pytest.mark.parametrize(("script", "order_id", "expected"), OUTCOMES)
def test_outcome_of_the_last_commands_events(
    session: Session, script: str, order_id: int, expected: Outcome
) -> None:
    play(session, script)
    assert outcome(order_id, session.events) == expected
