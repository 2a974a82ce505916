"""The book contract (docs/book.md) as scenarios, run against every implementation.

Each scenario places a few orders and compares each command's events (one line per event,
every field) and the resulting book (a ladder table) with what docs/book.md says. The
``session`` fixture checks seq stamping, ``last_seq`` and ``check_invariants()`` after
every single command.
"""

from __future__ import annotations

import pytest
from book_helpers import (
    CANCEL_RESTING,
    FOK,
    INSTRUMENT,
    IOC,
    LIMIT,
    MARKET,
    POST_ONLY,
    REJECT_INCOMING,
    BookFactory,
    Session,
    table,
)

from dome.core.book_api import Level, RestingOrder
from dome.core.commands import AmendOrder, CancelOrder, NewOrder
from dome.core.instrument import Instrument
from dome.core.outcome import Fill, Outcome, outcome
from dome.core.types import OrderStatus, OrderType, RejectReason, SelfTradePrevention, Side

NEW = OrderStatus.NEW
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
CANCELLED = OrderStatus.CANCELLED
REJECTED = OrderStatus.REJECTED
NO_REASON = RejectReason.NONE
QTY_BELOW_MIN = RejectReason.QTY_BELOW_MIN

# ------------------------------------------------------------------ LIMIT


def test_limit_order_rests_on_an_empty_book(session: Session) -> None:
    assert session.buy(1, "alice", 100, 5) == [
        "accepted 1 alice BUY LIMIT 5@100",
        "rested 1 alice BUY 5@100",
    ]
    assert session.table() == "bid 100 | 1 alice 5"
    assert session.book.best_bid() == 100
    assert session.book.best_ask() is None


def test_limit_orders_that_do_not_cross_both_rest(session: Session) -> None:
    session.buy(1, "alice", 100, 5)
    session.sell(2, "bob", 101, 7)
    assert session.table() == table("""
        ask 101 | 2 bob 7
        bid 100 | 1 alice 5
    """)


def test_partial_fill_rests_the_remainder_of_the_taker(session: Session) -> None:
    session.sell(1, "alice", 100, 5)
    assert session.buy(2, "bob", 100, 8) == [
        "accepted 2 bob BUY LIMIT 8@100",
        "trade t1 5@100 BUY maker 1 alice left 0 taker 2 bob left 3",
        "rested 2 bob BUY 3@100",
    ]
    assert session.table() == "bid 100 | 2 bob 3"
    resting = session.book.get_order(2)
    assert resting is not None
    assert (resting.qty, resting.remaining, resting.priority) == (8, 3, 2)


def test_partial_fill_of_the_maker_leaves_it_in_place(session: Session) -> None:
    session.sell(1, "alice", 100, 10)
    session.sell(2, "carol", 100, 4)
    assert session.buy(3, "bob", 105, 6) == [
        "accepted 3 bob BUY LIMIT 6@105",
        "trade t1 6@100 BUY maker 1 alice left 4 taker 3 bob left 0",
    ]
    assert session.table() == "ask 100 | 1 alice 4 ; 2 carol 4"


def test_sweep_trades_each_level_at_the_makers_price(session: Session) -> None:
    session.sell(1, "alice", 101, 2)
    session.sell(2, "alice", 103, 2)
    session.sell(3, "carol", 102, 2)
    session.sell(4, "carol", 104, 2)
    assert session.sell(5, "dave", 110, 2) == [
        "accepted 5 dave SELL LIMIT 2@110",
        "rested 5 dave SELL 2@110",
    ]
    assert session.buy(6, "bob", 103, 9) == [
        "accepted 6 bob BUY LIMIT 9@103",
        "trade t1 2@101 BUY maker 1 alice left 0 taker 6 bob left 7",
        "trade t2 2@102 BUY maker 3 carol left 0 taker 6 bob left 5",
        "trade t3 2@103 BUY maker 2 alice left 0 taker 6 bob left 3",
        "rested 6 bob BUY 3@103",
    ]
    assert session.table() == table("""
        ask 110 | 5 dave 2
        ask 104 | 4 carol 2
        bid 103 | 6 bob 3
    """)
    assert session.book.next_trade_id == 4


def test_sell_sweep_goes_from_the_highest_bid_down(session: Session) -> None:
    session.buy(1, "alice", 99, 3)
    session.buy(2, "alice", 101, 3)
    session.buy(3, "alice", 100, 3)
    assert session.sell(4, "bob", 100, 7) == [
        "accepted 4 bob SELL LIMIT 7@100",
        "trade t1 3@101 SELL maker 2 alice left 0 taker 4 bob left 4",
        "trade t2 3@100 SELL maker 3 alice left 0 taker 4 bob left 1",
        "rested 4 bob SELL 1@100",
    ]
    assert session.table() == table("""
        ask 100 | 4 bob 1
        bid 99 | 1 alice 3
    """)


def test_price_time_priority_within_and_across_levels(session: Session) -> None:
    session.sell(1, "alice", 101, 2)
    session.sell(2, "carol", 100, 2)
    session.sell(3, "dave", 100, 2)
    session.sell(4, "erin", 100, 2)
    assert session.table() == table("""
        ask 101 | 1 alice 2
        ask 100 | 2 carol 2 ; 3 dave 2 ; 4 erin 2
    """)
    assert session.buy(5, "bob", 101, 5) == [
        "accepted 5 bob BUY LIMIT 5@101",
        "trade t1 2@100 BUY maker 2 carol left 0 taker 5 bob left 3",
        "trade t2 2@100 BUY maker 3 dave left 0 taker 5 bob left 1",
        "trade t3 1@100 BUY maker 4 erin left 1 taker 5 bob left 0",
    ]
    assert session.table() == table("""
        ask 101 | 1 alice 2
        ask 100 | 4 erin 1
    """)


# ------------------------------------------------------------------ MARKET


def test_market_order_sweeps_and_cancels_what_is_left(session: Session) -> None:
    session.sell(1, "alice", 100, 2)
    session.sell(2, "carol", 500, 3)
    assert session.buy(3, "bob", 0, 9, MARKET) == [
        "accepted 3 bob BUY MARKET 9@0",
        "trade t1 2@100 BUY maker 1 alice left 0 taker 3 bob left 7",
        "trade t2 3@500 BUY maker 2 carol left 0 taker 3 bob left 4",
        "cancelled 3 bob BUY 4@0 UNFILLED incoming",
    ]
    assert session.table() == "(empty)"


def test_market_order_filled_completely_ends_with_its_trade(session: Session) -> None:
    session.buy(1, "alice", 100, 5)
    assert session.sell(2, "bob", 0, 5, MARKET) == [
        "accepted 2 bob SELL MARKET 5@0",
        "trade t1 5@100 SELL maker 1 alice left 0 taker 2 bob left 0",
    ]
    assert session.table() == "(empty)"


def test_market_order_against_an_empty_side_is_rejected(session: Session) -> None:
    session.buy(1, "alice", 100, 5)
    assert session.expect_untouched(
        lambda seq: NewOrder(seq, 0, 2, "bob", "m1", Side.BUY, MARKET, 0, 5)
    ) == ["rejected 2 bob NO_LIQUIDITY cid=m1"]


# ------------------------------------------------------------------ IOC


def test_ioc_takes_up_to_its_limit_and_cancels_the_rest(session: Session) -> None:
    session.sell(1, "alice", 100, 3)
    session.sell(2, "alice", 102, 3)
    assert session.buy(3, "bob", 101, 5, IOC) == [
        "accepted 3 bob BUY IOC 5@101",
        "trade t1 3@100 BUY maker 1 alice left 0 taker 3 bob left 2",
        "cancelled 3 bob BUY 2@101 UNFILLED incoming",
    ]
    assert session.table() == "ask 102 | 2 alice 3"


def test_ioc_that_cannot_trade_is_cancelled_whole(session: Session) -> None:
    session.sell(1, "alice", 100, 3)
    assert session.buy(2, "bob", 99, 5, IOC) == [
        "accepted 2 bob BUY IOC 5@99",
        "cancelled 2 bob BUY 5@99 UNFILLED incoming",
    ]
    assert session.table() == "ask 100 | 1 alice 3"


def test_ioc_on_an_empty_book_is_accepted_then_cancelled(session: Session) -> None:
    assert session.sell(1, "bob", 99, 5, IOC) == [
        "accepted 1 bob SELL IOC 5@99",
        "cancelled 1 bob SELL 5@99 UNFILLED incoming",
    ]


# ------------------------------------------------------------------ FOK


def test_fok_fills_completely_across_levels(session: Session) -> None:
    session.sell(1, "alice", 100, 3)
    session.sell(2, "carol", 101, 3)
    assert session.buy(3, "bob", 101, 6, FOK) == [
        "accepted 3 bob BUY FOK 6@101",
        "trade t1 3@100 BUY maker 1 alice left 0 taker 3 bob left 3",
        "trade t2 3@101 BUY maker 2 carol left 0 taker 3 bob left 0",
    ]
    assert session.table() == "(empty)"


def test_fok_counts_only_liquidity_within_its_limit(session: Session) -> None:
    session.sell(1, "alice", 100, 3)
    session.sell(2, "carol", 102, 3)
    assert session.expect_untouched(
        lambda seq: NewOrder(seq, 0, 3, "bob", "", Side.BUY, FOK, 101, 4)
    ) == ["rejected 3 bob FOK_NOT_FILLABLE"]


def test_fok_on_an_empty_book_is_not_fillable(session: Session) -> None:
    assert session.expect_untouched(
        lambda seq: NewOrder(seq, 0, 1, "bob", "", Side.SELL, FOK, 100, 2)
    ) == ["rejected 1 bob FOK_NOT_FILLABLE"]


# ------------------------------------------------------------------ POST_ONLY


def test_post_only_rests_when_it_would_not_take(session: Session) -> None:
    session.sell(1, "alice", 101, 3)
    assert session.buy(2, "bob", 100, 4, POST_ONLY) == [
        "accepted 2 bob BUY POST_ONLY 4@100",
        "rested 2 bob BUY 4@100",
    ]
    resting = session.book.get_order(2)
    assert resting is not None
    assert resting.order_type == POST_ONLY


@pytest.mark.parametrize(
    ("side", "price"),
    [(Side.BUY, 101), (Side.BUY, 150), (Side.SELL, 99), (Side.SELL, 50)],
)
def test_post_only_that_meets_the_best_opposite_price_is_rejected(
    session: Session, side: Side, price: int
) -> None:
    session.sell(1, "alice", 101, 3)
    session.buy(2, "alice", 99, 3)
    assert session.expect_untouched(
        lambda seq: NewOrder(seq, 0, 3, "bob", "", side, POST_ONLY, price, 2)
    ) == ["rejected 3 bob POST_ONLY_WOULD_TAKE"]


def test_post_only_is_rejected_even_against_its_own_account(session: Session) -> None:
    session.sell(1, "bob", 101, 3)
    assert session.expect_untouched(
        lambda seq: NewOrder(seq, 0, 2, "bob", "", Side.BUY, POST_ONLY, 101, 2)
    ) == ["rejected 2 bob POST_ONLY_WOULD_TAKE"]


# ------------------------------------------------------------------ self-trade prevention


def test_stp_cancel_resting_removes_own_makers_and_trades_on(session: Session) -> None:
    session.sell(1, "carol", 100, 2)
    session.sell(2, "bob", 100, 2)
    session.sell(3, "alice", 100, 2)
    session.sell(4, "bob", 101, 2)
    assert session.buy(5, "bob", 101, 5, LIMIT, CANCEL_RESTING) == [
        "accepted 5 bob BUY LIMIT 5@101",
        "trade t1 2@100 BUY maker 1 carol left 0 taker 5 bob left 3",
        "cancelled 2 bob SELL 2@100 SELF_TRADE resting",
        "trade t2 2@100 BUY maker 3 alice left 0 taker 5 bob left 1",
        "cancelled 4 bob SELL 2@101 SELF_TRADE resting",
        "rested 5 bob BUY 1@101",
    ]
    assert session.table() == "bid 101 | 5 bob 1"


def test_stp_reject_incoming_cancels_the_taker_and_nothing_rests(session: Session) -> None:
    session.sell(1, "carol", 100, 2)
    session.sell(2, "bob", 100, 2)
    session.sell(3, "alice", 100, 2)
    assert session.buy(4, "bob", 100, 5, LIMIT, REJECT_INCOMING) == [
        "accepted 4 bob BUY LIMIT 5@100",
        "trade t1 2@100 BUY maker 1 carol left 0 taker 4 bob left 3",
        "cancelled 4 bob BUY 3@100 SELF_TRADE incoming",
    ]
    assert session.table() == "ask 100 | 2 bob 2 ; 3 alice 2"


def test_stp_reject_incoming_on_a_market_order(session: Session) -> None:
    session.buy(1, "bob", 100, 2)
    assert session.sell(2, "bob", 0, 5, MARKET, REJECT_INCOMING) == [
        "accepted 2 bob SELL MARKET 5@0",
        "cancelled 2 bob SELL 5@0 SELF_TRADE incoming",
    ]
    assert session.table() == "bid 100 | 1 bob 2"


def test_stp_cancel_resting_then_market_finds_nothing_else(session: Session) -> None:
    session.buy(1, "bob", 100, 2)
    assert session.sell(2, "bob", 0, 5, MARKET, CANCEL_RESTING) == [
        "accepted 2 bob SELL MARKET 5@0",
        "cancelled 1 bob BUY 2@100 SELF_TRADE resting",
        "cancelled 2 bob SELL 5@0 UNFILLED incoming",
    ]
    assert session.table() == "(empty)"


def test_stp_only_applies_within_the_limit_price(session: Session) -> None:
    session.sell(1, "alice", 100, 2)
    session.sell(2, "bob", 102, 2)
    assert session.buy(3, "bob", 101, 4) == [
        "accepted 3 bob BUY LIMIT 4@101",
        "trade t1 2@100 BUY maker 1 alice left 0 taker 3 bob left 2",
        "rested 3 bob BUY 2@101",
    ]
    assert session.table() == table("""
        ask 102 | 2 bob 2
        bid 101 | 3 bob 2
    """)


def test_fok_with_cancel_resting_does_not_count_own_orders(session: Session) -> None:
    session.sell(1, "bob", 100, 5)
    session.sell(2, "alice", 100, 3)
    assert session.expect_untouched(
        lambda seq: NewOrder(seq, 0, 3, "bob", "", Side.BUY, FOK, 100, 4, CANCEL_RESTING)
    ) == ["rejected 3 bob FOK_NOT_FILLABLE"]


def test_fok_with_cancel_resting_skips_own_orders_when_others_suffice(
    session: Session,
) -> None:
    session.sell(1, "bob", 100, 5)
    session.sell(2, "alice", 100, 3)
    session.sell(3, "carol", 101, 3)
    assert session.buy(4, "bob", 101, 5, FOK, CANCEL_RESTING) == [
        "accepted 4 bob BUY FOK 5@101",
        "cancelled 1 bob SELL 5@100 SELF_TRADE resting",
        "trade t1 3@100 BUY maker 2 alice left 0 taker 4 bob left 2",
        "trade t2 2@101 BUY maker 3 carol left 1 taker 4 bob left 0",
    ]
    assert session.table() == "ask 101 | 3 carol 1"


def test_fok_with_reject_incoming_stops_counting_at_an_own_order(session: Session) -> None:
    session.sell(1, "alice", 100, 2)
    session.sell(2, "bob", 100, 5)
    session.sell(3, "carol", 100, 9)
    assert session.expect_untouched(
        lambda seq: NewOrder(seq, 0, 4, "bob", "", Side.BUY, FOK, 100, 3, REJECT_INCOMING)
    ) == ["rejected 4 bob FOK_NOT_FILLABLE"]


def test_fok_with_reject_incoming_fills_from_orders_ahead_of_its_own(session: Session) -> None:
    session.sell(1, "alice", 100, 2)
    session.sell(2, "carol", 100, 2)
    session.sell(3, "bob", 100, 5)
    assert session.buy(4, "bob", 100, 4, FOK, REJECT_INCOMING) == [
        "accepted 4 bob BUY FOK 4@100",
        "trade t1 2@100 BUY maker 1 alice left 0 taker 4 bob left 2",
        "trade t2 2@100 BUY maker 2 carol left 0 taker 4 bob left 0",
    ]
    assert session.table() == "ask 100 | 3 bob 5"


# ------------------------------------------------------------------ cancel


def test_cancel_removes_the_order_and_its_empty_level(session: Session) -> None:
    session.buy(1, "alice", 100, 5)
    session.buy(2, "carol", 100, 4)
    session.buy(3, "alice", 99, 2)
    assert session.cancel("alice", 1) == ["cancelled 1 alice BUY 5@100 REQUESTED resting"]
    assert session.table() == table("""
        bid 100 | 2 carol 4
        bid 99 | 3 alice 2
    """)
    assert session.cancel("alice", 3) == ["cancelled 3 alice BUY 2@99 REQUESTED resting"]
    assert session.book.level(Side.BUY, 99) == Level(99, 0, 0)
    assert session.table() == "bid 100 | 2 carol 4"


def test_cancel_of_a_partially_filled_order_cancels_what_is_open(session: Session) -> None:
    session.sell(1, "alice", 100, 5)
    session.buy(2, "bob", 100, 2)
    assert session.cancel("alice", 1) == ["cancelled 1 alice SELL 3@100 REQUESTED resting"]
    assert session.table() == "(empty)"


@pytest.mark.parametrize("history", ["never", "filled", "cancelled", "ioc"])
def test_cancel_of_an_order_that_is_not_open_is_unknown(session: Session, history: str) -> None:
    session.sell(1, "alice", 100, 5)
    if history == "filled":
        session.buy(9, "bob", 100, 5)
    elif history == "cancelled":
        session.buy(9, "bob", 90, 5)
        session.cancel("bob", 9)
    elif history == "ioc":
        session.buy(9, "bob", 99, 5, IOC)
    assert session.expect_untouched(lambda seq: CancelOrder(seq, 0, "bob", 9)) == [
        "rejected 9 bob UNKNOWN_ORDER"
    ]


def test_cancel_of_another_accounts_order_is_refused(session: Session) -> None:
    session.sell(1, "alice", 100, 5)
    assert session.expect_untouched(lambda seq: CancelOrder(seq, 0, "mallory", 1)) == [
        "rejected 1 mallory NOT_ORDER_OWNER"
    ]


# ------------------------------------------------------------------ amend


def test_amend_lowering_qty_at_the_same_price_keeps_priority(session: Session) -> None:
    session.buy(1, "alice", 100, 8)
    session.buy(2, "carol", 100, 4)
    assert session.amend("alice", 1, qty=5) == ["amended 1 alice BUY 8@100 -> 5@100 priority kept"]
    assert session.table() == "bid 100 | 1 alice 5 ; 2 carol 4"
    assert session.book.level(Side.BUY, 100) == Level(100, 9, 2)
    resting = session.book.get_order(1)
    assert resting is not None
    # priority kept also keeps the quantity the order was placed with
    assert (resting.qty, resting.remaining, resting.priority) == (8, 5, 1)


def test_amend_with_the_same_price_spelled_out_still_keeps_priority(session: Session) -> None:
    session.buy(1, "alice", 100, 8)
    session.buy(2, "carol", 100, 4)
    assert session.amend("alice", 1, qty=3, price=100) == [
        "amended 1 alice BUY 8@100 -> 3@100 priority kept"
    ]
    assert session.table() == "bid 100 | 1 alice 3 ; 2 carol 4"


def test_amend_raising_qty_loses_priority(session: Session) -> None:
    session.buy(1, "alice", 100, 4)
    session.buy(2, "carol", 100, 4)
    assert session.amend("alice", 1, qty=6) == [
        "amended 1 alice BUY 4@100 -> 6@100 priority lost",
        "rested 1 alice BUY 6@100",
    ]
    assert session.table() == "bid 100 | 2 carol 4 ; 1 alice 6"
    resting = session.book.get_order(1)
    assert resting is not None
    assert (resting.qty, resting.remaining, resting.priority) == (6, 6, 3)


def test_amend_changing_price_moves_to_the_back_of_the_new_level(session: Session) -> None:
    session.sell(1, "alice", 105, 4)
    session.sell(2, "carol", 104, 4)
    assert session.amend("alice", 1, price=104) == [
        "amended 1 alice SELL 4@105 -> 4@104 priority lost",
        "rested 1 alice SELL 4@104",
    ]
    assert session.table() == "ask 104 | 2 carol 4 ; 1 alice 4"


def test_amend_of_a_partially_filled_order_works_on_its_open_qty(session: Session) -> None:
    session.sell(1, "alice", 100, 10)
    session.buy(2, "bob", 100, 4)
    assert session.amend("alice", 1, qty=3) == ["amended 1 alice SELL 6@100 -> 3@100 priority kept"]
    resting = session.book.get_order(1)
    assert resting is not None
    assert (resting.qty, resting.remaining) == (10, 3)


def test_amend_that_crosses_trades_as_the_taker_then_rests(session: Session) -> None:
    session.sell(1, "carol", 101, 2)
    session.sell(2, "dave", 102, 2)
    session.buy(3, "alice", 99, 5)
    assert session.amend("alice", 3, price=101) == [
        "amended 3 alice BUY 5@99 -> 5@101 priority lost",
        "trade t1 2@101 BUY maker 1 carol left 0 taker 3 alice left 3",
        "rested 3 alice BUY 3@101",
    ]
    assert session.table() == table("""
        ask 102 | 2 dave 2
        bid 101 | 3 alice 3
    """)
    resting = session.book.get_order(3)
    assert resting is not None
    assert (resting.qty, resting.remaining, resting.priority) == (5, 3, 4)


def test_amend_that_crosses_can_fill_the_order_completely(session: Session) -> None:
    session.buy(1, "carol", 100, 9)
    session.sell(2, "alice", 103, 4)
    assert session.amend("alice", 2, qty=3, price=100) == [
        "amended 2 alice SELL 4@103 -> 3@100 priority lost",
        "trade t1 3@100 SELL maker 1 carol left 6 taker 2 alice left 0",
    ]
    assert session.table() == "bid 100 | 1 carol 6"
    assert session.book.get_order(2) is None


def test_amend_that_crosses_uses_the_orders_own_stp_mode(session: Session) -> None:
    session.sell(1, "alice", 101, 2)
    session.sell(2, "carol", 102, 2)
    session.buy(3, "alice", 99, 5, LIMIT, REJECT_INCOMING)
    assert session.amend("alice", 3, price=102) == [
        "amended 3 alice BUY 5@99 -> 5@102 priority lost",
        "cancelled 3 alice BUY 5@102 SELF_TRADE incoming",
    ]
    assert session.table() == table("""
        ask 102 | 2 carol 2
        ask 101 | 1 alice 2
    """)


def test_amend_crossing_with_cancel_resting_removes_own_makers(session: Session) -> None:
    session.sell(1, "alice", 101, 2)
    session.sell(2, "carol", 102, 2)
    session.buy(3, "alice", 99, 5)
    assert session.amend("alice", 3, price=102) == [
        "amended 3 alice BUY 5@99 -> 5@102 priority lost",
        "cancelled 1 alice SELL 2@101 SELF_TRADE resting",
        "trade t1 2@102 BUY maker 2 carol left 0 taker 3 alice left 3",
        "rested 3 alice BUY 3@102",
    ]
    resting = session.book.get_order(3)
    assert resting is not None
    assert resting.stp == CANCEL_RESTING


def test_amend_of_post_only_that_would_take_is_rejected(session: Session) -> None:
    session.sell(1, "carol", 101, 2)
    session.buy(2, "alice", 99, 5, POST_ONLY)
    assert session.expect_untouched(lambda seq: AmendOrder(seq, 0, "alice", 2, 0, 101)) == [
        "rejected 2 alice POST_ONLY_WOULD_TAKE"
    ]


def test_amend_of_post_only_below_the_opposite_side_re_rests_as_post_only(
    session: Session,
) -> None:
    session.sell(1, "carol", 101, 2)
    session.buy(2, "alice", 99, 5, POST_ONLY)
    assert session.amend("alice", 2, price=100) == [
        "amended 2 alice BUY 5@99 -> 5@100 priority lost",
        "rested 2 alice BUY 5@100",
    ]
    resting = session.book.get_order(2)
    assert resting is not None
    assert resting.order_type == POST_ONLY


# ------------------------------------------------------------------ rejects


def _new(
    order_id: int = 50,
    side: int = Side.BUY,
    order_type: int = LIMIT,
    price: int = 100,
    qty: int = 5,
    stp: int = CANCEL_RESTING,
    client_order_id: str = "c50",
) -> NewOrder:
    # int-typed arguments let the tests send values no enum member has, as a wire would
    return NewOrder(
        0,
        0,
        order_id,
        "zed",
        client_order_id,
        side,  # type: ignore[arg-type]
        order_type,  # type: ignore[arg-type]
        price,
        qty,
        stp,  # type: ignore[arg-type]
    )


NEW_ORDER_REJECTS = [
    pytest.param(_new(side=3), "INVALID_SIDE", id="side"),
    pytest.param(_new(side=0, order_type=9), "INVALID_SIDE", id="side-before-type"),
    pytest.param(_new(order_type=9), "INVALID_ORDER_TYPE", id="type"),
    pytest.param(_new(stp=0), "INVALID_STP", id="stp"),
    pytest.param(_new(client_order_id="x" * 65), "INVALID_CLIENT_ORDER_ID", id="cid-long"),
    pytest.param(_new(client_order_id="tab\there"), "INVALID_CLIENT_ORDER_ID", id="cid-tab"),
    pytest.param(_new(qty=0), "QTY_NOT_POSITIVE", id="qty-zero"),
    pytest.param(_new(qty=-3), "QTY_NOT_POSITIVE", id="qty-negative"),
    pytest.param(_new(qty=1), "QTY_BELOW_MIN", id="qty-min"),
    pytest.param(_new(qty=1_001), "QTY_ABOVE_MAX", id="qty-max"),
    pytest.param(_new(qty=1, price=0), "QTY_BELOW_MIN", id="qty-before-price"),
    pytest.param(_new(order_type=MARKET, price=100), "PRICE_NOT_ALLOWED", id="market-price"),
    pytest.param(_new(price=0), "PRICE_REQUIRED", id="limit-no-price"),
    pytest.param(_new(order_type=IOC, price=-1), "PRICE_REQUIRED", id="ioc-negative"),
    pytest.param(_new(price=9), "PRICE_OUT_OF_BAND", id="price-low"),
    pytest.param(_new(order_type=FOK, price=1_001), "PRICE_OUT_OF_BAND", id="price-high"),
    pytest.param(_new(order_type=POST_ONLY, price=101), "POST_ONLY_WOULD_TAKE", id="post"),
    pytest.param(_new(order_type=FOK, price=101, qty=4), "FOK_NOT_FILLABLE", id="fok"),
    pytest.param(_new(side=Side.SELL, order_type=MARKET, price=0), "NO_LIQUIDITY", id="mkt"),
]


@pytest.mark.parametrize(("cmd", "reason"), NEW_ORDER_REJECTS)
def test_new_order_rejects_change_nothing(session: Session, cmd: NewOrder, reason: str) -> None:
    session.sell(1, "alice", 101, 3)
    session.sell(2, "alice", 102, 3)
    cid = f" cid={cmd.client_order_id}"
    assert session.expect_untouched(lambda seq: cmd._replace(seq=seq)) == [
        f"rejected 50 zed {reason}{cid}"
    ]


@pytest.mark.parametrize(
    ("order_type", "price"),
    [
        pytest.param(LIMIT, 100, id="would-rest"),
        pytest.param(LIMIT, 101, id="would-trade"),
        pytest.param(POST_ONLY, 101, id="before-post-only"),
    ],
)
def test_new_order_with_an_id_on_the_book_is_rejected(
    session: Session, order_type: int, price: int
) -> None:
    # Only a corrupt or hostile log can repeat an id; both cores refuse it unchanged.
    session.sell(1, "alice", 101, 3)
    assert session.expect_untouched(
        lambda seq: NewOrder(seq, 0, 1, "zed", "c9", Side.BUY, order_type, price, 5)
    ) == ["rejected 1 zed ORDER_ID_IN_USE cid=c9"]


AMEND_REJECTS = [
    pytest.param("alice", 77, 3, 0, "UNKNOWN_ORDER", id="unknown"),
    pytest.param("mallory", 1, 3, 0, "NOT_ORDER_OWNER", id="owner"),
    pytest.param("mallory", 1, 0, 0, "NOT_ORDER_OWNER", id="owner-before-no-change"),
    pytest.param("alice", 1, 0, 0, "AMEND_NO_CHANGE", id="nothing"),
    pytest.param("alice", 1, 6, 100, "AMEND_NO_CHANGE", id="same-values"),
    pytest.param("alice", 1, -1, 0, "QTY_NOT_POSITIVE", id="qty-negative"),
    pytest.param("alice", 1, 1_001, 0, "QTY_ABOVE_MAX", id="qty-max"),
    pytest.param("alice", 1, 0, -5, "PRICE_OUT_OF_BAND", id="price-negative"),
    pytest.param("alice", 1, 0, 9, "PRICE_OUT_OF_BAND", id="price-low"),
    pytest.param("alice", 1, 0, 1_001, "PRICE_OUT_OF_BAND", id="price-high"),
    pytest.param("alice", 2, 0, 101, "POST_ONLY_WOULD_TAKE", id="post-only"),
]


@pytest.mark.parametrize(("account", "order_id", "qty", "price", "reason"), AMEND_REJECTS)
def test_amend_rejects_change_nothing(
    session: Session, account: str, order_id: int, qty: int, price: int, reason: str
) -> None:
    session.buy(1, "alice", 100, 6)
    session.buy(2, "alice", 99, 4, POST_ONLY)
    session.sell(3, "carol", 101, 4)
    assert session.expect_untouched(
        lambda seq: AmendOrder(seq, 0, account, order_id, qty, price)
    ) == [f"rejected {order_id} {account} {reason}"]


def test_amend_may_lower_below_the_minimum_but_not_raise_to_below_it(
    book_factory: BookFactory,
) -> None:
    session = Session(book_factory(Instrument("XYZ", min_qty=5)))
    session.buy(1, "alice", 100, 10)
    assert session.amend("alice", 1, qty=2) == ["amended 1 alice BUY 10@100 -> 2@100 priority kept"]
    assert session.expect_untouched(lambda seq: AmendOrder(seq, 0, "alice", 1, 3, 0)) == [
        "rejected 1 alice QTY_BELOW_MIN"
    ]
    assert session.amend("alice", 1, qty=5) == [
        "amended 1 alice BUY 2@100 -> 5@100 priority lost",
        "rested 1 alice BUY 5@100",
    ]


def test_amend_of_a_filled_order_is_unknown(session: Session) -> None:
    session.sell(1, "alice", 100, 3)
    session.buy(2, "bob", 100, 3)
    assert session.expect_untouched(lambda seq: AmendOrder(seq, 0, "alice", 1, 2, 0)) == [
        "rejected 1 alice UNKNOWN_ORDER"
    ]


def test_rejected_commands_still_advance_last_seq(session: Session) -> None:
    session.cancel("nobody", 1)
    session.amend("nobody", 1, qty=3)
    session.order(Side.BUY, 1, "x", 100, 0)
    assert session.book.last_seq == 3
    assert session.book.next_trade_id == 1


# ------------------------------------------------------------------ queries and hashing


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
    resting = session.book.get_order(1)
    assert resting is not None
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


def test_order_type_and_stp_values_match_the_enums() -> None:
    # The reject table sends raw ints; make sure those really are outside the enums.
    assert 3 not in {int(s) for s in Side}
    assert 9 not in {int(t) for t in OrderType}
    assert 0 not in {int(m) for m in SelfTradePrevention}


# ------------------------------------------------------------------ outcome()


def test_outcome_of_a_resting_order_is_new(session: Session) -> None:
    session.buy(1, "alice", 100, 5)
    assert outcome(1, session.events) == Outcome(1, NEW, NO_REASON, 0, 5, 0, ())


def test_outcome_of_a_partly_filled_resting_taker(session: Session) -> None:
    session.sell(1, "alice", 100, 2)
    session.sell(2, "alice", 101, 2)
    session.buy(3, "bob", 101, 6)
    assert outcome(3, session.events) == Outcome(
        3, PARTIALLY_FILLED, NO_REASON, 4, 2, 0, (Fill(1, 100, 2), Fill(2, 101, 2))
    )
    # the same events, seen by a maker
    assert outcome(1, session.events) == Outcome(1, FILLED, NO_REASON, 2, 0, 0, (Fill(1, 100, 2),))


def test_outcome_of_a_filled_taker(session: Session) -> None:
    session.sell(1, "alice", 100, 4)
    session.buy(2, "bob", 100, 4)
    assert outcome(2, session.events) == Outcome(2, FILLED, NO_REASON, 4, 0, 0, (Fill(1, 100, 4),))


def test_outcome_of_an_ioc_remainder_is_cancelled(session: Session) -> None:
    session.sell(1, "alice", 100, 2)
    session.buy(2, "bob", 100, 5, IOC)
    assert outcome(2, session.events) == Outcome(
        2, CANCELLED, NO_REASON, 2, 0, 3, (Fill(1, 100, 2),)
    )


def test_outcome_of_a_reject(session: Session) -> None:
    session.buy(1, "alice", 100, 1)
    assert outcome(1, session.events) == Outcome(1, REJECTED, QTY_BELOW_MIN, 0, 0, 0, ())


def test_outcome_of_a_self_trade_cancelled_taker(session: Session) -> None:
    session.sell(1, "bob", 100, 3)
    session.buy(2, "bob", 100, 4, LIMIT, REJECT_INCOMING)
    assert outcome(2, session.events) == Outcome(2, CANCELLED, NO_REASON, 0, 0, 4, ())


def test_outcome_of_cancel_and_amend(session: Session) -> None:
    session.buy(1, "alice", 100, 6)
    session.amend("alice", 1, qty=4)
    assert outcome(1, session.events) == Outcome(1, NEW, NO_REASON, 0, 4, 0, ())
    session.cancel("alice", 1)
    assert outcome(1, session.events) == Outcome(1, CANCELLED, NO_REASON, 0, 0, 4, ())


def test_outcome_of_an_amend_that_trades(session: Session) -> None:
    session.sell(1, "carol", 101, 2)
    session.buy(2, "alice", 99, 5)
    session.amend("alice", 2, price=101)
    assert outcome(2, session.events) == Outcome(
        2, PARTIALLY_FILLED, NO_REASON, 2, 3, 0, (Fill(1, 101, 2),)
    )
