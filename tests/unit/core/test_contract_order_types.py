"""The book contract (docs/book.md) for each order type, as a table run on every core.

Each row is a scenario script (``book_script``): a few orders, the events a command owes
(one line per event, every field) and the ladder that results. The ``session`` fixture
runs each row once per core and checks seq stamping, ``last_seq`` and
``check_invariants()`` after every single command.
"""

from __future__ import annotations

import pytest
from book_helpers import POST_ONLY, Session
from book_script import play, scenario

LIMIT_SCENARIOS = [
    scenario(
        "limit order rests on an empty book",
        """
        buy 1 alice 100 5
          > accepted 1 alice BUY LIMIT 5@100
          > rested 1 alice BUY 5@100
        = bid 100 | 1 alice 5
    """,
    ),
    scenario(
        "limit orders that do not cross both rest",
        """
        buy 1 alice 100 5
        sell 2 bob 101 7
        = ask 101 | 2 bob 7
        = bid 100 | 1 alice 5
    """,
    ),
    scenario(
        "partial fill rests the remainder of the taker",
        """
        sell 1 alice 100 5
        buy 2 bob 100 8
          > accepted 2 bob BUY LIMIT 8@100
          > trade t1 5@100 BUY maker 1 alice left 0 taker 2 bob left 3
          > rested 2 bob BUY 3@100
        = bid 100 | 2 bob 3
    """,
    ),
    scenario(
        "partial fill of the maker leaves it in place",
        """
        sell 1 alice 100 10
        sell 2 carol 100 4
        buy 3 bob 105 6
          > accepted 3 bob BUY LIMIT 6@105
          > trade t1 6@100 BUY maker 1 alice left 4 taker 3 bob left 0
        = ask 100 | 1 alice 4 ; 2 carol 4
    """,
    ),
    scenario(
        "sweep trades each level at the makers price",
        """
        sell 1 alice 101 2
        sell 2 alice 103 2
        sell 3 carol 102 2
        sell 4 carol 104 2
        sell 5 dave 110 2
          > accepted 5 dave SELL LIMIT 2@110
          > rested 5 dave SELL 2@110
        buy 6 bob 103 9
          > accepted 6 bob BUY LIMIT 9@103
          > trade t1 2@101 BUY maker 1 alice left 0 taker 6 bob left 7
          > trade t2 2@102 BUY maker 3 carol left 0 taker 6 bob left 5
          > trade t3 2@103 BUY maker 2 alice left 0 taker 6 bob left 3
          > rested 6 bob BUY 3@103
        = ask 110 | 5 dave 2
        = ask 104 | 4 carol 2
        = bid 103 | 6 bob 3
    """,
    ),
    scenario(
        "sell sweep goes from the highest bid down",
        """
        buy 1 alice 99 3
        buy 2 alice 101 3
        buy 3 alice 100 3
        sell 4 bob 100 7
          > accepted 4 bob SELL LIMIT 7@100
          > trade t1 3@101 SELL maker 2 alice left 0 taker 4 bob left 4
          > trade t2 3@100 SELL maker 3 alice left 0 taker 4 bob left 1
          > rested 4 bob SELL 1@100
        = ask 100 | 4 bob 1
        = bid 99 | 1 alice 3
    """,
    ),
    scenario(
        "price time priority within and across levels",
        """
        sell 1 alice 101 2
        sell 2 carol 100 2
        sell 3 dave 100 2
        sell 4 erin 100 2
        = ask 101 | 1 alice 2
        = ask 100 | 2 carol 2 ; 3 dave 2 ; 4 erin 2
        buy 5 bob 101 5
          > accepted 5 bob BUY LIMIT 5@101
          > trade t1 2@100 BUY maker 2 carol left 0 taker 5 bob left 3
          > trade t2 2@100 BUY maker 3 dave left 0 taker 5 bob left 1
          > trade t3 1@100 BUY maker 4 erin left 1 taker 5 bob left 0
        = ask 101 | 1 alice 2
        = ask 100 | 4 erin 1
    """,
    ),
]

MARKET_SCENARIOS = [
    scenario(
        "market order sweeps and cancels what is left",
        """
        sell 1 alice 100 2
        sell 2 carol 500 3
        buy 3 bob 0 9 MARKET
          > accepted 3 bob BUY MARKET 9@0
          > trade t1 2@100 BUY maker 1 alice left 0 taker 3 bob left 7
          > trade t2 3@500 BUY maker 2 carol left 0 taker 3 bob left 4
          > cancelled 3 bob BUY 4@0 UNFILLED incoming
        = (empty)
    """,
    ),
    scenario(
        "market order filled completely ends with its trade",
        """
        buy 1 alice 100 5
        sell 2 bob 0 5 MARKET
          > accepted 2 bob SELL MARKET 5@0
          > trade t1 5@100 SELL maker 1 alice left 0 taker 2 bob left 0
        = (empty)
    """,
    ),
    scenario(
        "market order against an empty side is rejected",
        """
        buy 1 alice 100 5
        ! buy 2 bob 0 5 MARKET cid=m1
          > rejected 2 bob NO_LIQUIDITY cid=m1
    """,
    ),
]

IOC_SCENARIOS = [
    scenario(
        "ioc takes up to its limit and cancels the rest",
        """
        sell 1 alice 100 3
        sell 2 alice 102 3
        buy 3 bob 101 5 IOC
          > accepted 3 bob BUY IOC 5@101
          > trade t1 3@100 BUY maker 1 alice left 0 taker 3 bob left 2
          > cancelled 3 bob BUY 2@101 UNFILLED incoming
        = ask 102 | 2 alice 3
    """,
    ),
    scenario(
        "ioc that cannot trade is cancelled whole",
        """
        sell 1 alice 100 3
        buy 2 bob 99 5 IOC
          > accepted 2 bob BUY IOC 5@99
          > cancelled 2 bob BUY 5@99 UNFILLED incoming
        = ask 100 | 1 alice 3
    """,
    ),
    scenario(
        "ioc on an empty book is accepted then cancelled",
        """
        sell 1 bob 99 5 IOC
          > accepted 1 bob SELL IOC 5@99
          > cancelled 1 bob SELL 5@99 UNFILLED incoming
    """,
    ),
]

FOK_SCENARIOS = [
    scenario(
        "fok fills completely across levels",
        """
        sell 1 alice 100 3
        sell 2 carol 101 3
        buy 3 bob 101 6 FOK
          > accepted 3 bob BUY FOK 6@101
          > trade t1 3@100 BUY maker 1 alice left 0 taker 3 bob left 3
          > trade t2 3@101 BUY maker 2 carol left 0 taker 3 bob left 0
        = (empty)
    """,
    ),
    scenario(
        "fok counts only liquidity within its limit",
        """
        sell 1 alice 100 3
        sell 2 carol 102 3
        ! buy 3 bob 101 4 FOK
          > rejected 3 bob FOK_NOT_FILLABLE
    """,
    ),
    scenario(
        "fok on an empty book is not fillable",
        """
        ! sell 1 bob 100 2 FOK
          > rejected 1 bob FOK_NOT_FILLABLE
    """,
    ),
]

POST_ONLY_SCENARIOS = [
    scenario(
        "post only rests when it would not take",
        """
        sell 1 alice 101 3
        buy 2 bob 100 4 POST_ONLY
          > accepted 2 bob BUY POST_ONLY 4@100
          > rested 2 bob BUY 4@100
    """,
    ),
    *(
        scenario(
            f"post only that meets the best opposite price is rejected {side} {price}",
            f"""
            sell 1 alice 101 3
            buy 2 alice 99 3
            ! {side} 3 bob {price} 2 POST_ONLY
              > rejected 3 bob POST_ONLY_WOULD_TAKE
        """,
        )
        for side, price in [("buy", 101), ("buy", 150), ("sell", 99), ("sell", 50)]
    ),
    scenario(
        "post only is rejected even against its own account",
        """
        sell 1 bob 101 3
        ! buy 2 bob 101 2 POST_ONLY
          > rejected 2 bob POST_ONLY_WOULD_TAKE
    """,
    ),
]


@pytest.mark.parametrize(
    "script",
    LIMIT_SCENARIOS + MARKET_SCENARIOS + IOC_SCENARIOS + FOK_SCENARIOS + POST_ONLY_SCENARIOS,
)
def test_order_type_scenario(session: Session, script: str) -> None:
    play(session, script)


# What the ladder does not show: the best prices, and what a resting order keeps.


def test_a_lone_bid_is_the_best_bid_and_there_is_no_ask(session: Session) -> None:
    play(session, "buy 1 alice 100 5")
    assert session.book.best_bid() == 100
    assert session.book.best_ask() is None


def test_a_partly_filled_taker_rests_with_its_placed_qty_and_priority(session: Session) -> None:
    play(session, "sell 1 alice 100 5 \n buy 2 bob 100 8")
    resting = session.resting(2)
    assert (resting.qty, resting.remaining, resting.priority) == (8, 3, 2)


def test_a_sweep_uses_one_trade_id_per_fill(session: Session) -> None:
    play(
        session,
        """
        sell 1 alice 101 2
        sell 2 alice 103 2
        sell 3 carol 102 2
        sell 4 carol 104 2
        sell 5 dave 110 2
        buy 6 bob 103 9
    """,
    )
    assert session.book.next_trade_id == 4


def test_post_only_rests_as_post_only(session: Session) -> None:
    play(session, "sell 1 alice 101 3 \n buy 2 bob 100 4 POST_ONLY")
    resting = session.resting(2)
    assert resting.order_type == POST_ONLY
