"""The book contract (docs/book.md) for cancel and amend, as tables run on every core.

Rows are scenario scripts (``book_script``); see ``test_contract_order_types`` for how
they run. An amend that only lowers the quantity keeps priority; any other loses it and
re-enters as a taker with the order's own type and self-trade prevention mode.
"""

from __future__ import annotations

import pytest
from book_helpers import CANCEL_RESTING, POST_ONLY, Session
from book_script import play, scenario

from dome.core.book_api import Level
from dome.core.types import Side

CANCEL_SCENARIOS = [
    scenario(
        "cancel removes the order and its empty level",
        """
        buy 1 alice 100 5
        buy 2 carol 100 4
        buy 3 alice 99 2
        cancel alice 1
          > cancelled 1 alice BUY 5@100 REQUESTED resting
        = bid 100 | 2 carol 4
        = bid 99 | 3 alice 2
        cancel alice 3
          > cancelled 3 alice BUY 2@99 REQUESTED resting
        = bid 100 | 2 carol 4
    """,
    ),
    scenario(
        "cancel of a partially filled order cancels what is open",
        """
        sell 1 alice 100 5
        buy 2 bob 100 2
        cancel alice 1
          > cancelled 1 alice SELL 3@100 REQUESTED resting
        = (empty)
    """,
    ),
    *(
        scenario(
            f"cancel of an order that is not open is unknown {history}",
            f"""
            sell 1 alice 100 5
            {setup}
            ! cancel bob 9
              > rejected 9 bob UNKNOWN_ORDER
        """,
        )
        for history, setup in [
            ("never", ""),
            ("filled", "buy 9 bob 100 5"),
            ("cancelled", "buy 9 bob 90 5 \n cancel bob 9"),
            ("ioc", "buy 9 bob 99 5 IOC"),
        ]
    ),
    scenario(
        "cancel of another accounts order is refused",
        """
        sell 1 alice 100 5
        ! cancel mallory 1
          > rejected 1 mallory NOT_ORDER_OWNER
    """,
    ),
]

AMEND_SCENARIOS = [
    scenario(
        "amend lowering qty at the same price keeps priority",
        """
        buy 1 alice 100 8
        buy 2 carol 100 4
        amend alice 1 qty=5
          > amended 1 alice BUY 8@100 -> 5@100 priority kept
        = bid 100 | 1 alice 5 ; 2 carol 4
    """,
    ),
    scenario(
        "amend with the same price spelled out still keeps priority",
        """
        buy 1 alice 100 8
        buy 2 carol 100 4
        amend alice 1 qty=3 price=100
          > amended 1 alice BUY 8@100 -> 3@100 priority kept
        = bid 100 | 1 alice 3 ; 2 carol 4
    """,
    ),
    scenario(
        "amend raising qty loses priority",
        """
        buy 1 alice 100 4
        buy 2 carol 100 4
        amend alice 1 qty=6
          > amended 1 alice BUY 4@100 -> 6@100 priority lost
          > rested 1 alice BUY 6@100
        = bid 100 | 2 carol 4 ; 1 alice 6
    """,
    ),
    scenario(
        "amend changing price moves to the back of the new level",
        """
        sell 1 alice 105 4
        sell 2 carol 104 4
        amend alice 1 price=104
          > amended 1 alice SELL 4@105 -> 4@104 priority lost
          > rested 1 alice SELL 4@104
        = ask 104 | 2 carol 4 ; 1 alice 4
    """,
    ),
    scenario(
        "amend of a partially filled order works on its open qty",
        """
        sell 1 alice 100 10
        buy 2 bob 100 4
        amend alice 1 qty=3
          > amended 1 alice SELL 6@100 -> 3@100 priority kept
    """,
    ),
    scenario(
        "amend that crosses trades as the taker then rests",
        """
        sell 1 carol 101 2
        sell 2 dave 102 2
        buy 3 alice 99 5
        amend alice 3 price=101
          > amended 3 alice BUY 5@99 -> 5@101 priority lost
          > trade t1 2@101 BUY maker 1 carol left 0 taker 3 alice left 3
          > rested 3 alice BUY 3@101
        = ask 102 | 2 dave 2
        = bid 101 | 3 alice 3
    """,
    ),
    scenario(
        "amend that crosses can fill the order completely",
        """
        buy 1 carol 100 9
        sell 2 alice 103 4
        amend alice 2 qty=3 price=100
          > amended 2 alice SELL 4@103 -> 3@100 priority lost
          > trade t1 3@100 SELL maker 1 carol left 6 taker 2 alice left 0
        = bid 100 | 1 carol 6
    """,
    ),
    scenario(
        "amend that crosses uses the orders own stp mode",
        """
        sell 1 alice 101 2
        sell 2 carol 102 2
        buy 3 alice 99 5 LIMIT REJECT_INCOMING
        amend alice 3 price=102
          > amended 3 alice BUY 5@99 -> 5@102 priority lost
          > cancelled 3 alice BUY 5@102 SELF_TRADE incoming
        = ask 102 | 2 carol 2
        = ask 101 | 1 alice 2
    """,
    ),
    scenario(
        "amend crossing with cancel resting removes own makers",
        """
        sell 1 alice 101 2
        sell 2 carol 102 2
        buy 3 alice 99 5
        amend alice 3 price=102
          > amended 3 alice BUY 5@99 -> 5@102 priority lost
          > cancelled 1 alice SELL 2@101 SELF_TRADE resting
          > trade t1 2@102 BUY maker 2 carol left 0 taker 3 alice left 3
          > rested 3 alice BUY 3@102
    """,
    ),
    scenario(
        "amend of post only that would take is rejected",
        """
        sell 1 carol 101 2
        buy 2 alice 99 5 POST_ONLY
        ! amend alice 2 price=101
          > rejected 2 alice POST_ONLY_WOULD_TAKE
    """,
    ),
    scenario(
        "amend of post only below the opposite side re rests as post only",
        """
        sell 1 carol 101 2
        buy 2 alice 99 5 POST_ONLY
        amend alice 2 price=100
          > amended 2 alice BUY 5@99 -> 5@100 priority lost
          > rested 2 alice BUY 5@100
    """,
    ),
]


@pytest.mark.parametrize("script", CANCEL_SCENARIOS + AMEND_SCENARIOS)
def test_cancel_and_amend_scenario(session: Session, script: str) -> None:
    play(session, script)


# What the ladder does not show: emptied levels, and what an amended order keeps.


def test_a_cancelled_last_order_leaves_no_level(session: Session) -> None:
    play(session, "buy 3 alice 99 2 \n cancel alice 3")
    assert session.book.level(Side.BUY, 99) == Level(99, 0, 0)


def test_priority_kept_keeps_the_placed_qty_and_the_level_total(session: Session) -> None:
    play(session, "buy 1 alice 100 8 \n buy 2 carol 100 4 \n amend alice 1 qty=5")
    assert session.book.level(Side.BUY, 100) == Level(100, 9, 2)
    resting = session.resting(1)
    # priority kept also keeps the quantity the order was placed with
    assert (resting.qty, resting.remaining, resting.priority) == (8, 5, 1)


def test_priority_lost_takes_the_new_qty_and_the_amends_seq(session: Session) -> None:
    play(session, "buy 1 alice 100 4 \n buy 2 carol 100 4 \n amend alice 1 qty=6")
    resting = session.resting(1)
    assert (resting.qty, resting.remaining, resting.priority) == (6, 6, 3)


def test_an_amend_of_a_partly_filled_order_keeps_its_placed_qty(session: Session) -> None:
    play(session, "sell 1 alice 100 10 \n buy 2 bob 100 4 \n amend alice 1 qty=3")
    resting = session.resting(1)
    assert (resting.qty, resting.remaining) == (10, 3)


def test_an_amend_that_crosses_rests_what_is_left_under_its_seq(session: Session) -> None:
    play(
        session,
        """
        sell 1 carol 101 2
        sell 2 dave 102 2
        buy 3 alice 99 5
        amend alice 3 price=101
    """,
    )
    resting = session.resting(3)
    assert (resting.qty, resting.remaining, resting.priority) == (5, 3, 4)


def test_an_amend_that_fills_completely_leaves_no_order(session: Session) -> None:
    play(session, "buy 1 carol 100 9 \n sell 2 alice 103 4 \n amend alice 2 qty=3 price=100")
    assert session.book.get_order(2) is None


def test_an_amend_that_crosses_keeps_its_stp_mode(session: Session) -> None:
    play(
        session,
        """
        sell 1 alice 101 2
        sell 2 carol 102 2
        buy 3 alice 99 5
        amend alice 3 price=102
    """,
    )
    resting = session.resting(3)
    assert resting.stp == CANCEL_RESTING


def test_an_amended_post_only_stays_post_only(session: Session) -> None:
    play(session, "sell 1 carol 101 2 \n buy 2 alice 99 5 POST_ONLY \n amend alice 2 price=100")
    resting = session.resting(2)
    assert resting.order_type == POST_ONLY
