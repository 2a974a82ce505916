"""The book contract (docs/book.md) for rejects, as tables run on every core.

Every reject is one ``OrderRejected`` with its reason, and changes nothing but
``last_seq``: ``Session.expect_untouched`` proves it (orders, next trade id and state
hash unchanged). The tables list each validation rule and, where two rules meet, which
one docs/book.md checks first.
"""

from __future__ import annotations

import pytest
from book_helpers import (
    CANCEL_RESTING,
    FOK,
    IOC,
    LIMIT,
    MARKET,
    POST_ONLY,
    BookFactory,
    Session,
)

from dome.core.commands import AmendOrder, NewOrder
from dome.core.instrument import Instrument
from dome.core.types import OrderType, SelfTradePrevention, Side


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


def test_order_type_and_stp_values_match_the_enums() -> None:
    # The reject table sends raw ints; make sure those really are outside the enums.
    assert 3 not in {int(s) for s in Side}
    assert 9 not in {int(t) for t in OrderType}
    assert 0 not in {int(m) for m in SelfTradePrevention}
