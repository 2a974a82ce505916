"""The book contract (docs/book.md) for self-trade prevention, as a table run on every core.

Rows are scenario scripts (``book_script``); see ``test_contract_order_types`` for how
they run. CANCEL_RESTING removes the taker's own makers and trades on; REJECT_INCOMING
cancels the taker at its first own maker; a FOK counts only what it could really trade.
"""

from __future__ import annotations

import pytest
from book_helpers import Session
from book_script import play, scenario

SELF_TRADE_SCENARIOS = [
    scenario(
        "stp cancel resting removes own makers and trades on",
        """
        sell 1 carol 100 2
        sell 2 bob 100 2
        sell 3 alice 100 2
        sell 4 bob 101 2
        buy 5 bob 101 5 LIMIT CANCEL_RESTING
          > accepted 5 bob BUY LIMIT 5@101
          > trade t1 2@100 BUY maker 1 carol left 0 taker 5 bob left 3
          > cancelled 2 bob SELL 2@100 SELF_TRADE resting
          > trade t2 2@100 BUY maker 3 alice left 0 taker 5 bob left 1
          > cancelled 4 bob SELL 2@101 SELF_TRADE resting
          > rested 5 bob BUY 1@101
        = bid 101 | 5 bob 1
    """,
    ),
    scenario(
        "stp reject incoming cancels the taker and nothing rests",
        """
        sell 1 carol 100 2
        sell 2 bob 100 2
        sell 3 alice 100 2
        buy 4 bob 100 5 LIMIT REJECT_INCOMING
          > accepted 4 bob BUY LIMIT 5@100
          > trade t1 2@100 BUY maker 1 carol left 0 taker 4 bob left 3
          > cancelled 4 bob BUY 3@100 SELF_TRADE incoming
        = ask 100 | 2 bob 2 ; 3 alice 2
    """,
    ),
    scenario(
        "stp reject incoming on a market order",
        """
        buy 1 bob 100 2
        sell 2 bob 0 5 MARKET REJECT_INCOMING
          > accepted 2 bob SELL MARKET 5@0
          > cancelled 2 bob SELL 5@0 SELF_TRADE incoming
        = bid 100 | 1 bob 2
    """,
    ),
    scenario(
        "stp cancel resting then market finds nothing else",
        """
        buy 1 bob 100 2
        sell 2 bob 0 5 MARKET CANCEL_RESTING
          > accepted 2 bob SELL MARKET 5@0
          > cancelled 1 bob BUY 2@100 SELF_TRADE resting
          > cancelled 2 bob SELL 5@0 UNFILLED incoming
        = (empty)
    """,
    ),
    scenario(
        "stp only applies within the limit price",
        """
        sell 1 alice 100 2
        sell 2 bob 102 2
        buy 3 bob 101 4
          > accepted 3 bob BUY LIMIT 4@101
          > trade t1 2@100 BUY maker 1 alice left 0 taker 3 bob left 2
          > rested 3 bob BUY 2@101
        = ask 102 | 2 bob 2
        = bid 101 | 3 bob 2
    """,
    ),
    scenario(
        "fok with cancel resting does not count own orders",
        """
        sell 1 bob 100 5
        sell 2 alice 100 3
        ! buy 3 bob 100 4 FOK CANCEL_RESTING
          > rejected 3 bob FOK_NOT_FILLABLE
    """,
    ),
    scenario(
        "fok with cancel resting skips own orders when others suffice",
        """
        sell 1 bob 100 5
        sell 2 alice 100 3
        sell 3 carol 101 3
        buy 4 bob 101 5 FOK CANCEL_RESTING
          > accepted 4 bob BUY FOK 5@101
          > cancelled 1 bob SELL 5@100 SELF_TRADE resting
          > trade t1 3@100 BUY maker 2 alice left 0 taker 4 bob left 2
          > trade t2 2@101 BUY maker 3 carol left 1 taker 4 bob left 0
        = ask 101 | 3 carol 1
    """,
    ),
    scenario(
        "fok with reject incoming stops counting at an own order",
        """
        sell 1 alice 100 2
        sell 2 bob 100 5
        sell 3 carol 100 9
        ! buy 4 bob 100 3 FOK REJECT_INCOMING
          > rejected 4 bob FOK_NOT_FILLABLE
    """,
    ),
    scenario(
        "fok with reject incoming fills from orders ahead of its own",
        """
        sell 1 alice 100 2
        sell 2 carol 100 2
        sell 3 bob 100 5
        buy 4 bob 100 4 FOK REJECT_INCOMING
          > accepted 4 bob BUY FOK 4@100
          > trade t1 2@100 BUY maker 1 alice left 0 taker 4 bob left 2
          > trade t2 2@100 BUY maker 2 carol left 0 taker 4 bob left 0
        = ask 100 | 3 bob 5
    """,
    ),
]


@pytest.mark.parametrize("script", SELF_TRADE_SCENARIOS)
def test_self_trade_scenario(session: Session, script: str) -> None:
    play(session, script)
