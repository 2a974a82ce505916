"""The rules the engine adds around the book: too late to cancel, a reused client order id,
cancel by client order id, mass cancel and the history page, on both cores.

Each runs on an in-process ``EngineNode`` (real sequencer, applier and sinks), once per
core: the rules live in the engine's order memory, so both cores must give the same.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import native_core
from dome.cores import python_market
from dome.engine.errors import NotFound, OutOfRange
from dome.engine.metrics import EngineMetrics
from dome.engine.node import EngineNode
from dome.engine.order_memory import OrderMemory
from dome.instrument_spec import InstrumentSpec
from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr

R = pb.RejectReason
SYMS = ("XYZ", "ABC")
SPECS = [
    InstrumentSpec.from_dict(
        {"symbol": s, "tick_size": "1", "lot_size": "1", "min_qty": "1", "max_qty": "1000"}
    )
    for s in SYMS
]


def _native_market(instrument: Any, window: int) -> Any:
    return native_core.module().Market(instrument, window)


@pytest.fixture(params=["python", "native"])
def market_factory(request: pytest.FixtureRequest) -> Callable[..., Any]:
    if request.param == "native":
        native_core.module()
        return _native_market
    return python_market


@pytest.fixture
async def node(market_factory: Callable[..., Any]) -> AsyncIterator[EngineNode]:
    clock = iter(range(1_000, 10**9))
    n = EngineNode(
        SPECS,
        EngineMetrics("test", core="python"),
        market_factory=market_factory,
        clock_ns=lambda: next(clock),
    )
    n.start()
    try:
        yield n
    finally:
        await n.stop()


def submit(
    side: str, qty: int, price: int, coid: str = "", symbol: str = "XYZ", kind: int = 1
) -> tr.OrderAction:
    return tr.OrderAction(
        submit=tr.SubmitOrderRequest(
            symbol=symbol,
            side=pb.SIDE_BUY if side == "buy" else pb.SIDE_SELL,
            type=kind,  # type: ignore[arg-type]
            price=str(price) if price else "",
            qty=str(qty),
            client_order_id=coid,
        )
    )


def cancel(order_id: int = 0, coid: str = "", symbol: str = "XYZ") -> tr.OrderAction:
    return tr.OrderAction(
        cancel=tr.CancelOrderRequest(symbol=symbol, order_id=order_id, client_order_id=coid)
    )


def amend(order_id: int, qty: int) -> tr.OrderAction:
    return tr.OrderAction(amend=tr.AmendOrderRequest(symbol="XYZ", order_id=order_id, qty=str(qty)))


async def do(n: EngineNode, account: str, action: tr.OrderAction) -> tr.OrderResult:
    return await n.submit_one(account, action)


# -------------------------------------------------------------- too late to cancel


async def test_cancelling_a_filled_or_cancelled_order_is_too_late(node: EngineNode) -> None:
    filled = await do(node, "alice", submit("sell", 2, 10, "a-filled"))
    await do(node, "bob", submit("buy", 2, 10))
    gone = await do(node, "alice", submit("sell", 3, 11, "a-gone"))
    assert (await do(node, "alice", cancel(gone.order_id))).status == pb.ORDER_STATUS_CANCELLED

    late = await do(node, "alice", cancel(filled.order_id))
    assert (late.status, late.reject_reason) == (
        pb.ORDER_STATUS_REJECTED,
        R.REJECT_REASON_TOO_LATE_TO_CANCEL,
    )
    assert late.client_order_id == "a-filled"
    again = await do(node, "alice", cancel(gone.order_id))
    assert again.reject_reason == R.REJECT_REASON_TOO_LATE_TO_CANCEL
    amended = await do(node, "alice", amend(filled.order_id, 1))
    assert amended.reject_reason == R.REJECT_REASON_TOO_LATE_TO_CANCEL


async def test_a_made_up_or_foreign_id_stays_unknown(node: EngineNode) -> None:
    filled = await do(node, "alice", submit("sell", 2, 10))
    taker = await do(node, "bob", submit("buy", 2, 10))
    assert (await do(node, "alice", cancel(999_999))).reject_reason == R.REJECT_REASON_UNKNOWN_ORDER
    # Another account's closed order: nothing about it leaks.
    foreign = await do(node, "bob", cancel(filled.order_id))
    assert foreign.reject_reason == R.REJECT_REASON_UNKNOWN_ORDER
    # A cancel's own seq is no order: unknown too. An IOC that filled is too late.
    assert (await do(node, "bob", cancel(taker.seq + 100))).reject_reason == (
        R.REJECT_REASON_UNKNOWN_ORDER
    )


async def test_the_rule_survives_a_snapshot_of_the_reporter(node: EngineNode) -> None:
    filled = await do(node, "alice", submit("sell", 2, 10, "a1"))
    await do(node, "bob", submit("buy", 2, 10))
    state = node.symbol("XYZ")
    saved = json.loads(json.dumps(state.reporter.state()))
    market = state.market
    node.replace_market("XYZ", market, {"reports": saved})
    late = await do(node, "alice", cancel(filled.order_id))
    assert late.reject_reason == R.REJECT_REASON_TOO_LATE_TO_CANCEL


def test_the_memory_forgets_oldest_first() -> None:
    from dome.core.events import OrderAccepted
    from dome.core.types import OrderType, Side

    memory = OrderMemory(capacity=2)
    for i in (1, 2, 3):
        memory.remember(OrderAccepted(i, i, "a", f"c{i}", Side.BUY, OrderType.LIMIT, 1, 1))
    assert memory.owner(1) is None
    assert memory.owner(3) == ("a", "c3")
    assert (memory.order_id_of("a", "c1"), memory.order_id_of("a", "c2")) == (0, 2)
    copy = OrderMemory(capacity=1)
    copy.restore(memory.state())
    assert (copy.owner(2), copy.owner(3)) == (None, ("a", "c3"))


# ------------------------------------------------------------ reused client order id


async def test_a_reused_client_order_id_with_other_parameters_is_rejected(
    node: EngineNode,
) -> None:
    first = await do(node, "alice", submit("buy", 5, 10, "dup"))
    for changed in (
        submit("buy", 6, 10, "dup"),
        submit("buy", 5, 11, "dup"),
        submit("sell", 5, 10, "dup"),
        submit("buy", 5, 10, "dup", kind=pb.ORDER_TYPE_POST_ONLY),
    ):
        refused = await do(node, "alice", changed)
        assert (refused.status, refused.reject_reason, refused.duplicate) == (
            pb.ORDER_STATUS_REJECTED,
            R.REJECT_REASON_CLIENT_ORDER_ID_REUSED,
            False,
        )
        assert refused.client_order_id == "dup"
    same = await do(node, "alice", submit("buy", 5, 10, "dup"))
    assert (same.order_id, same.duplicate, same.status) == (first.order_id, True, first.status)
    open_orders = node.open_orders("alice", "XYZ").orders
    assert [(o.order_id, o.remaining_qty) for o in open_orders] == [(first.order_id, "5")]


async def test_a_reused_id_of_another_account_is_its_own(node: EngineNode) -> None:
    await do(node, "alice", submit("buy", 5, 10, "same"))
    bob = await do(node, "bob", submit("buy", 7, 9, "same"))
    assert (bob.status, bob.duplicate) == (pb.ORDER_STATUS_NEW, False)


# ---------------------------------------------------------- cancel by client order id


async def test_cancel_by_client_order_id(node: EngineNode) -> None:
    placed = await do(node, "alice", submit("sell", 4, 20, "quote-1"))
    assert (await do(node, "bob", cancel(coid="quote-1"))).reject_reason == (
        R.REJECT_REASON_UNKNOWN_ORDER
    )
    done = await do(node, "alice", cancel(coid="quote-1"))
    assert (done.order_id, done.status, done.cancelled_qty, done.client_order_id) == (
        placed.order_id,
        pb.ORDER_STATUS_CANCELLED,
        "4",
        "quote-1",
    )
    late = await do(node, "alice", cancel(coid="quote-1"))
    assert late.reject_reason == R.REJECT_REASON_TOO_LATE_TO_CANCEL
    never = await do(node, "alice", cancel(coid="never-sent"))
    assert (never.reject_reason, never.client_order_id) == (
        R.REJECT_REASON_UNKNOWN_ORDER,
        "never-sent",
    )


# ---------------------------------------------------------------------- mass cancel


async def test_mass_cancel_takes_only_the_callers_open_orders(node: EngineNode) -> None:
    for symbol in SYMS:
        await do(node, "alice", submit("sell", 1, 30, symbol=symbol))
        await do(node, "alice", submit("buy", 1, 5, symbol=symbol))
        await do(node, "bob", submit("sell", 1, 31, symbol=symbol))
    symbols, actions = node.cancel_all_actions("alice", "ABC")
    assert symbols == ["ABC"]
    assert len(actions) == 2
    results = await node.submit("alice", actions)
    assert [r.status for r in results] == [pb.ORDER_STATUS_CANCELLED] * 2
    assert node.open_orders("alice", "ABC").orders == []
    assert len(node.open_orders("alice", "XYZ").orders) == 2

    symbols, actions = node.cancel_all_actions("alice", "")
    assert symbols == ["ABC", "XYZ"]
    assert len(actions) == 2
    await node.submit("alice", actions)
    assert all(not node.open_orders("alice", s).orders for s in SYMS)
    assert all(len(node.open_orders("bob", s).orders) == 1 for s in SYMS)
    with pytest.raises(NotFound):
        node.cancel_all_actions("alice", "NOPE")


# ------------------------------------------------------------------------- history


async def test_history_pages_end_between_seqs(node: EngineNode) -> None:
    for price in (10, 11, 12):
        await do(node, "alice", submit("sell", 1, price, f"a{price}"))
    await do(node, "bob", submit("buy", 3, 12, "sweep"))  # three alice reports, one seq
    await do(node, "alice", submit("sell", 1, 13, "a13"))
    seqs = [r.seq for r in node.history("alice", "XYZ", 0, 100).reports]
    assert seqs == [1, 2, 3, 4, 4, 4, 5]
    page = node.history("alice", "XYZ", 0, 4)
    assert [r.seq for r in page.reports] == [1, 2, 3]
    assert page.next_from_seq == 4
    page = node.history("alice", "XYZ", 4, 1)  # one seq larger than the page: whole
    assert [r.seq for r in page.reports] == [4, 4, 4]
    assert page.next_from_seq == 5
    page = node.history("alice", "XYZ", 5, 10)
    assert [r.client_order_id for r in page.reports] == ["a13"]
    assert page.next_from_seq == 0
    filled = [r for r in node.history("alice", "XYZ", 0, 100).reports if r.fill.trade_id]
    assert [r.status for r in filled] == [pb.ORDER_STATUS_FILLED] * 3
    assert node.history("carol", "XYZ", 0, 10).reports == []


async def test_history_out_of_range_after_a_snapshot(node: EngineNode) -> None:
    await do(node, "alice", submit("sell", 1, 10))
    state = node.symbol("XYZ")
    node.replace_market("XYZ", state.market, {"reports": state.reporter.state()})
    with pytest.raises(OutOfRange):
        node.history("alice", "XYZ", 1, 10)
    assert node.history("alice", "XYZ", 0, 10).first_held_seq == 2
