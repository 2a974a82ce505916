"""Report history and trade ring: what a resuming subscriber gets, and where it ends."""

from __future__ import annotations

import json

import pytest

from dome.engine.errors import OutOfRange
from dome.engine.metrics import EngineMetrics
from dome.engine.node import EngineNode
from dome.engine.reports import ExecutionReporter
from dome.instrument_spec import InstrumentSpec
from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr

SYM = "XYZ"
SPEC = InstrumentSpec.from_dict(
    {"symbol": SYM, "tick_size": "1", "lot_size": "1", "min_qty": "1", "max_qty": "1000"}
)


def node() -> EngineNode:
    clock = iter(range(1_000, 10**9))
    return EngineNode([SPEC], EngineMetrics("test", core="python"), clock_ns=lambda: next(clock))


def submit(side: str, qty: int, price: int, coid: str = "") -> tr.OrderAction:
    return tr.OrderAction(
        submit=tr.SubmitOrderRequest(
            symbol=SYM,
            side=pb.SIDE_BUY if side == "buy" else pb.SIDE_SELL,
            type=pb.ORDER_TYPE_LIMIT,
            price=str(price),
            qty=str(qty),
            client_order_id=coid,
        )
    )


async def run(n: EngineNode, steps: list[tuple[str, tr.OrderAction]]) -> None:
    n.start()
    try:
        await apply(n, steps)
    finally:
        await n.stop()


def reports(reporter: ExecutionReporter, account: str, from_seq: int) -> list[tr.ExecutionReport]:
    return [reporter.message(r) for r in reporter.replay(account, from_seq)]


#: Alice rests three asks; bob sweeps two in one order (two alice reports, one seq).
STEPS = [
    ("alice", submit("sell", 2, 10, "a1")),
    ("alice", submit("sell", 3, 11, "a2")),
    ("alice", submit("sell", 4, 12, "a3")),
    ("bob", submit("buy", 5, 11, "b1")),
    ("bob", submit("buy", 1, 12, "b2")),
]


async def test_replay_returns_the_accounts_reports_from_a_seq_in_order() -> None:
    n = node()
    await run(n, STEPS)
    reporter = n.symbol(SYM).reporter
    alice = reports(reporter, "alice", 1)
    assert [(r.seq, r.exec_type, r.client_order_id) for r in alice] == [
        (1, tr.EXEC_TYPE_NEW, "a1"),
        (2, tr.EXEC_TYPE_NEW, "a2"),
        (3, tr.EXEC_TYPE_NEW, "a3"),
        (4, tr.EXEC_TYPE_TRADE, "a1"),
        (4, tr.EXEC_TYPE_TRADE, "a2"),
        (5, tr.EXEC_TYPE_TRADE, "a3"),
    ]
    assert [r.prev_seq for r in alice] == [0, 1, 2, 3, 4, 4]
    assert reports(reporter, "alice", 4) == alice[3:]
    assert [r.client_order_id for r in reports(reporter, "bob", 5)] == ["b2"]
    assert reports(reporter, "alice", 6) == []
    assert reports(reporter, "carol", 1) == []


async def test_history_is_bounded_and_refuses_what_it_dropped() -> None:
    n = node()
    state = n.symbol(SYM)
    # Two records held: the last two alice reports (both of seq 4) and bob's of seq 5.
    state.reporter = ExecutionReporter(SPEC, n.executions, state.units, history=3)
    state.rewire()
    await run(n, STEPS)
    reporter = state.reporter
    assert len(reporter._history) == 3
    # Seq 4 has three reports (alice twice, bob once); one was dropped, so 4 is refused.
    assert reporter.first_held_seq == 5
    with pytest.raises(OutOfRange, match="no longer held"):
        reporter.replay("alice", 4)
    assert [r.client_order_id for r in reports(reporter, "alice", 5)] == ["a3"]
    assert [r.client_order_id for r in reports(reporter, "bob", 5)] == ["b2"]


async def test_state_round_trip_reports_like_the_original() -> None:
    first, second = node(), node()
    first.start()
    second.start()
    try:
        await check_round_trip(first, second)
    finally:
        await first.stop()
        await second.stop()


async def apply(n: EngineNode, steps: list[tuple[str, tr.OrderAction]]) -> None:
    for account, action in steps:
        await n.submit_one(account, action)


async def check_round_trip(first: EngineNode, second: EngineNode) -> None:
    await apply(first, STEPS[:3])
    await apply(second, STEPS[:3])
    saved = json.loads(json.dumps(first.symbol(SYM).reporter.state()))
    restored = ExecutionReporter(SPEC, second.executions, second.symbol(SYM).units)
    restored.restore(saved)
    second.symbol(SYM).reporter = restored
    second.symbol(SYM).rewire()
    assert restored.state() == saved
    await apply(first, STEPS[3:])
    await apply(second, STEPS[3:])
    original = first.symbol(SYM).reporter
    assert restored.state() == original.state()
    for account in ("alice", "bob"):
        assert reports(restored, account, 4) == reports(original, account, 4)
    # Maker reports after the restore still carry the client order ids of resting orders.
    assert [r.client_order_id for r in reports(restored, "alice", 4)] == ["a1", "a2", "a3"]
    with pytest.raises(OutOfRange):
        restored.replay("alice", 3)


async def test_trade_ring_replays_after_an_id_and_refuses_what_it_dropped() -> None:
    n = node()
    state = n.symbol(SYM)
    state.feed.recent_trades = type(state.feed.recent_trades)(maxlen=2)
    await run(n, STEPS)
    feed = state.feed
    assert [t.trade_id for t in feed.recent_trades] == [2, 3]
    assert [t.trade_id for t in feed.trades_after(1)] == [2, 3]
    assert [t.trade_id for t in feed.trades_after(2)] == [3]
    assert feed.trades_after(3) == []
    assert feed.trades_after(7) == []
    with pytest.raises(OutOfRange, match="no longer held"):
        feed.trades_after(0)
