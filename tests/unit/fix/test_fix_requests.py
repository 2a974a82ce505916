"""Incoming FIX fields to typed requests, refusals and session rejects (``dome.fix.requests``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dome.core.types import OrderType
from dome.fix import tags as t
from dome.fix.requests import Incoming, SessionReject, dome_order_type, market_data, new_order
from dome.instrument_spec import InstrumentSpec

SPECS = {"XYZ": InstrumentSpec.from_dict({"symbol": "XYZ", "tick_size": "0.01", "lot_size": "1"})}


def order(**fields: str) -> Incoming:
    base = {
        t.CL_ORD_ID: "c1",
        t.SYMBOL: "XYZ",
        t.SIDE: "1",
        t.ORDER_QTY: "5",
        t.ORD_TYPE: "2",
        t.PRICE: "100.25",
    }
    names = {
        "symbol": t.SYMBOL,
        "qty": t.ORDER_QTY,
        "price": t.PRICE,
        "ord_type": t.ORD_TYPE,
        "tif": t.TIME_IN_FORCE,
        "exec_inst": t.EXEC_INST,
        "side": t.SIDE,
        "account": t.ACCOUNT,
        "cl_ord_id": t.CL_ORD_ID,
    }
    for name, value in fields.items():
        if value == "-":
            base.pop(names[name], None)
        else:
            base[names[name]] = value
    return Incoming("D", 2, base)


@pytest.mark.parametrize(
    ("ord_type", "tif", "exec_inst", "expected"),
    [
        ("2", "", "", OrderType.LIMIT),
        ("2", "0", "", OrderType.LIMIT),
        ("2", "1", "", OrderType.LIMIT),
        ("2", "3", "", OrderType.IOC),
        ("2", "4", "", OrderType.FOK),
        ("2", "1", "6", OrderType.POST_ONLY),
        ("1", "", "", OrderType.MARKET),
        ("1", "3", "", OrderType.MARKET),
        ("1", "4", "", None),
        ("3", "", "", None),
        ("2", "6", "", None),
        ("2", "3", "6", None),
        ("2", "1", "G", None),
    ],
)
def test_order_types(ord_type: str, tif: str, exec_inst: str, expected: OrderType | None) -> None:
    dome_type, refusal = dome_order_type(ord_type, tif, exec_inst)
    assert dome_type is expected
    assert (refusal is None) == (expected is not None)
    if refusal is not None:
        assert refusal.code == t.ORD_REJ_UNSUPPORTED_CHARACTERISTIC


@pytest.mark.parametrize(
    ("fields", "code", "text"),
    [
        ({"symbol": "NOPE"}, 1, "unknown symbol"),
        ({"price": "100.255"}, 99, "tick"),
        ({"qty": "1.5"}, 13, "lot"),
        ({"qty": "0"}, 13, "positive"),
        ({"side": "5"}, 11, "Side"),
        ({"account": "bob"}, 15, "Account"),
        ({"cl_ord_id": "x" * 65}, 99, "client order id"),
        ({"ord_type": "1"}, 99, "market orders take no price"),
    ],
)
def test_refusals(fields: dict[str, str], code: int, text: str) -> None:
    refused = new_order(order(**fields), SPECS, "alice")
    assert refused.refusal is not None
    assert refused.refusal.code == code
    assert text in refused.refusal.text


@pytest.mark.parametrize(
    ("fields", "tag", "reason"),
    [
        ({"symbol": "-"}, 55, 1),
        ({"qty": "-"}, 38, 1),
        ({"price": "-"}, 44, 1),
        ({"qty": "1e"}, 38, 6),
        ({"price": "NaN"}, 44, 6),
    ],
)
def test_session_rejects(fields: dict[str, str], tag: int, reason: int) -> None:
    with pytest.raises(SessionReject) as caught:
        new_order(order(**fields), SPECS, "alice")
    assert (caught.value.tag, caught.value.reason) == (tag, reason)


def test_an_accepted_order_keeps_exact_decimals() -> None:
    accepted = new_order(order(price="100.10", qty="7"), SPECS, "alice")
    assert accepted.refusal is None
    assert accepted.dome_type is OrderType.LIMIT
    assert accepted.price == Decimal("100.10")
    assert accepted.order_qty == 7


def test_market_data_request() -> None:
    groups = {
        t.NO_MD_ENTRY_TYPES: [{t.MD_ENTRY_TYPE: "0"}, {t.MD_ENTRY_TYPE: "2"}],
        t.NO_RELATED_SYM: [{t.SYMBOL: "XYZ"}],
    }
    fields = {t.MD_REQ_ID: "m1", t.SUBSCRIPTION_REQUEST_TYPE: "1", t.MARKET_DEPTH: "5"}
    parsed = market_data(Incoming("V", 3, fields, groups=groups), SPECS)
    assert parsed.refusal is None
    assert parsed.depth == 5
    assert parsed.incremental
    assert parsed.entry_types == {"0", "2"}
    assert parsed.symbols == ("XYZ",)
    unknown = {**groups, t.NO_RELATED_SYM: [{t.SYMBOL: "NOPE"}]}
    refused = market_data(Incoming("V", 3, fields, groups=unknown), SPECS)
    assert refused.refusal is not None
    assert refused.refusal.code == t.MD_REJ_UNKNOWN_SYMBOL
    odd = {**groups, t.NO_MD_ENTRY_TYPES: [{t.MD_ENTRY_TYPE: "B"}]}
    refused = market_data(Incoming("V", 3, fields, groups=odd), SPECS)
    assert refused.refusal is not None
    assert refused.refusal.code == t.MD_REJ_UNSUPPORTED_ENTRY_TYPE
