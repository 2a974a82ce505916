"""DOME execution reports to FIX ExecutionReports (``dome.fix.orders``), as tables.

Each case registers the NewOrderSingle, feeds the reports DOME would push for it, and
compares the ExecutionReports' key tags: ExecType, OrdStatus, CumQty, LeavesQty, AvgPx,
the ClOrdID chain. No gateway, no engine: the translation is a pure function.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from dome.client.models import ExecType, Execution, Fill
from dome.core.types import OrderStatus, RejectReason, Side
from dome.fix import tags as t
from dome.fix.orders import FixOrder, Orders
from dome.fix.requests import NewOrderRequest, dome_order_type

D = Decimal


def request(
    cl_ord_id: str = "c1",
    qty: str = "5",
    price: str | None = "100",
    side: Side = Side.BUY,
    tif: str = "",
) -> NewOrderRequest:
    ord_type = t.ORD_TYPE_LIMIT if price is not None else t.ORD_TYPE_MARKET
    dome_type, refusal = dome_order_type(ord_type, tif, "")
    assert refusal is None
    return NewOrderRequest(
        cl_ord_id=cl_ord_id,
        symbol="XYZ",
        side=side,
        side_code="1" if side is Side.BUY else "2",
        ord_type=ord_type,
        time_in_force=tif,
        exec_inst="",
        order_qty=D(qty),
        price=D(price) if price is not None else None,
        dome_type=dome_type,
        refusal=None,
    )


def execution(
    kind: ExecType,
    seq: int,
    *,
    coid: str = "c1",
    remaining: str = "0",
    fill: tuple[str, str] | None = None,
    status: OrderStatus = OrderStatus.NEW,
    price: str = "100",
    reason: RejectReason | None = None,
    maker: bool = False,
) -> Execution:
    return Execution(
        symbol="XYZ",
        seq=seq,
        prev_seq=0,
        timestamp_ns=1_700_000_000_000_000_000,
        exec_type=kind,
        order_id=7,
        client_order_id=coid,
        side=Side.BUY,
        status=status,
        price=D(price),
        remaining_qty=D(remaining),
        fill=Fill(1, D(fill[1]), D(fill[0]), maker) if fill else None,
        cancelled_qty=D(0),
        reject_reason=reason,
    )


def tags(fields: list[tuple[int, str]], *wanted: int) -> tuple[str, ...]:
    values = dict(fields)
    return tuple(values.get(tag, "") for tag in wanted)


KEY = (t.EXEC_TYPE, t.ORD_STATUS, t.CUM_QTY, t.LEAVES_QTY, t.AVG_PX, t.EXEC_ID)


def test_rest_then_fills() -> None:
    orders = Orders("alice")
    orders.register(request(qty="5"))
    out = orders.on_report(execution(ExecType.NEW, 1, remaining="5"), "XYZ:1:0")
    assert [tags(f, *KEY) for f in out] == [("0", "0", "0", "5", "0", "XYZ:1:0")]
    out = orders.on_report(
        execution(ExecType.TRADE, 2, remaining="3", fill=("2", "100"), maker=True), "XYZ:2:0"
    )
    assert [tags(f, *KEY, t.LAST_QTY, t.LAST_PX, t.LAST_LIQUIDITY_IND) for f in out] == [
        ("F", "1", "2", "3", "100", "XYZ:2:0", "2", "100", "1")
    ]
    out = orders.on_report(
        execution(ExecType.TRADE, 3, remaining="0", fill=("3", "99.5")), "XYZ:3:0"
    )
    # AvgPx = (2 x 100 + 3 x 99.5) / 5 = 99.7, exactly.
    assert [tags(f, *KEY) for f in out] == [("F", "2", "5", "0", "99.7", "XYZ:3:0")]


def test_an_order_that_trades_on_arrival_is_acknowledged_first() -> None:
    orders = Orders("alice")
    orders.register(request(qty="5"))
    out = orders.on_report(
        execution(ExecType.TRADE, 4, remaining="3", fill=("2", "100")), "XYZ:4:0"
    )
    assert [tags(f, *KEY) for f in out] == [
        ("0", "0", "0", "5", "0", "XYZ:4:0A"),
        ("F", "1", "2", "3", "100", "XYZ:4:0"),
    ]
    # The rest rests: DOME says NEW again, FIX already knows.
    assert orders.on_report(execution(ExecType.NEW, 4, remaining="3"), "XYZ:4:1") == []


def test_cancel_and_replace_answer_with_the_requests_cl_ord_id() -> None:
    orders = Orders("alice")
    order = orders.register(request(qty="5"))
    orders.on_report(execution(ExecType.NEW, 1, remaining="5"), "XYZ:1:0")
    orders.begin_change(order, "replace", "c1-r", D(4))
    out = orders.on_report(execution(ExecType.AMENDED, 2, remaining="4", price="101"), "XYZ:2:0")
    assert [
        tags(f, t.EXEC_TYPE, t.CL_ORD_ID, t.ORIG_CL_ORD_ID, t.ORDER_QTY, t.PRICE) for f in out
    ] == [("5", "c1-r", "c1", "4", "101")]
    assert orders.find("c1-r") is order
    assert orders.find("c1") is order
    orders.begin_change(order, "cancel", "c1-x")
    out = orders.on_report(execution(ExecType.CANCELLED, 3), "XYZ:3:0")
    assert [tags(f, t.EXEC_TYPE, t.ORD_STATUS, t.CL_ORD_ID, t.ORIG_CL_ORD_ID) for f in out] == [
        ("4", "4", "c1-x", "c1-r")
    ]
    assert order.done
    assert not order.pending


def test_an_unsolicited_cancel_keeps_the_cl_ord_id() -> None:
    orders = Orders("alice")
    orders.register(request(qty="5", tif=t.TIF_IOC))
    out = orders.on_report(execution(ExecType.CANCELLED, 1), "XYZ:1:0")
    assert [tags(f, t.EXEC_TYPE, t.CL_ORD_ID, t.ORIG_CL_ORD_ID) for f in out] == [
        ("0", "c1", ""),  # acknowledged, then
        ("4", "c1", ""),  # the IOC's unfilled rest cancelled
    ]


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (RejectReason.FOK_NOT_FILLABLE, "99"),
        (RejectReason.QTY_BELOW_MIN, "13"),
        (RejectReason.UNKNOWN_SYMBOL, "1"),
    ],
)
def test_a_sequenced_reject(reason: RejectReason, code: str) -> None:
    orders = Orders("alice")
    orders.register(request())
    out = orders.on_report(execution(ExecType.REJECTED, 1, reason=reason), "XYZ:1:0")
    assert [tags(f, t.EXEC_TYPE, t.ORD_STATUS, t.ORD_REJ_REASON, t.TEXT) for f in out] == [
        ("8", "8", code, reason.message)
    ]


def test_a_refused_cancel_is_no_execution_report() -> None:
    orders = Orders("alice")
    orders.register(request())
    orders.on_report(execution(ExecType.NEW, 1, remaining="5"), "XYZ:1:0")
    reject = execution(ExecType.REJECTED, 2, reason=RejectReason.UNKNOWN_ORDER)
    assert orders.on_report(reject, "XYZ:2:0") == []


def test_an_order_from_another_client_is_adopted() -> None:
    orders = Orders("alice")
    out = orders.on_report(execution(ExecType.NEW, 1, coid="sdk-1", remaining="2"), "XYZ:1:0")
    assert [tags(f, t.EXEC_TYPE, t.CL_ORD_ID, t.ORDER_QTY) for f in out] == [("0", "sdk-1", "2")]


def test_orders_round_trip_through_json() -> None:
    orders = Orders("alice")
    order = orders.register(request(qty="0.0001", price="30000.01"))
    order.notional, order.cum_qty = D("3.000001"), D("0.0001")
    again = FixOrder.from_json(order.to_json())
    assert again == order
