"""Pushed streams against a real engine: complete, in order, and agreeing with snapshots."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from client_helpers import eventually
from engine_harness import EngineProcess

from dome.client import Client, ExecType, Execution, LocalBook, StreamStats, Trade
from dome.core.types import Side

DEADLINE = 5.0


@pytest.fixture
async def alice(engine: EngineProcess) -> AsyncIterator[Client]:
    async with Client(engine.address, engine.accounts["alice"]) as client:
        yield client


@pytest.fixture
async def bob(engine: EngineProcess) -> AsyncIterator[Client]:
    async with Client(engine.address, engine.accounts["bob"]) as client:
        yield client


async def test_executions_are_gap_free(engine: EngineProcess, alice: Client, bob: Client) -> None:
    sym = engine.symbol()
    seen: list[Execution] = []
    stats = StreamStats()

    reports = await alice.subscribe_executions([sym], stats)

    async def follow() -> None:
        async for report in reports:
            seen.append(report)

    task = asyncio.create_task(follow())
    try:
        # Subscribed before the first order: every report of this test is in the stream.
        resting = await alice.submit_order(sym, "sell", "5", "20")
        await bob.submit_order(sym, "buy", "2", "20")
        await bob.submit_order(sym, "buy", "3", "20")
        await eventually(
            lambda: seen and seen[-1].order_id == resting.order_id and seen[-1].remaining_qty == 0,
            "the last fill",
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert stats.gaps == 0
    # Only alice's own reports (bob's fills are his): her NEW and her two maker fills.
    assert len(seen) == 3
    for before, after in itertools.pairwise(seen):
        assert after.prev_seq == before.seq  # each report names the one before it
    mine = [r for r in seen if r.order_id == resting.order_id]
    assert [r.exec_type for r in mine] == [ExecType.NEW, ExecType.TRADE, ExecType.TRADE]
    assert [r.remaining_qty for r in mine] == [5, 3, 0]
    assert all(r.fill is not None and r.fill.maker for r in mine[1:])


async def test_book_stream_matches_snapshots(
    engine: EngineProcess, alice: Client, bob: Client
) -> None:
    sym = engine.symbol()
    await alice.submit_order(sym, "buy", "3", "9.5")
    stats = StreamStats()
    latest: list[LocalBook] = []

    async def follow() -> None:
        async for book in alice.book_updates(sym, stats=stats):
            latest[:] = [book]

    task = asyncio.create_task(follow())
    try:
        await eventually(lambda: latest, "the snapshot")
        assert [(lv.price, lv.qty) for lv in latest[0].bids()] == [(Decimal("9.5"), 3)]
        for i in range(20):
            await alice.submit_order(sym, "sell", str(1 + i % 3), str(10 + i % 5))
        await bob.submit_order(sym, "buy", "7", "11", "ioc")
        await alice.submit_order(sym, "sell", "1", "9.5", "ioc")
        expected = await alice.book(sym, 100)
        await eventually(lambda: latest[0].seq == expected.seq, "the stream to catch up")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert latest[0].snapshot(100) == expected
    assert stats.gaps == 0


async def test_trade_stream_ids_are_consecutive(
    engine: EngineProcess, alice: Client, bob: Client
) -> None:
    sym = engine.symbol()
    trades: list[Trade] = []
    stats = StreamStats()

    stream = await alice.subscribe_trades(sym, stats)

    async def follow() -> None:
        async for trade in stream:
            trades.append(trade)

    task = asyncio.create_task(follow())
    try:
        await alice.submit_order(sym, "sell", "10", "50")
        for _ in range(10):
            await bob.submit_order(sym, "buy", "1", "50", "ioc")
        last = (await alice.trades(sym, 1))[-1]
        await eventually(lambda: trades and trades[-1].trade_id == last.trade_id, "the last trade")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # A fresh symbol and a live subscription: exactly this test's ten trades, from the first.
    assert [t.trade_id for t in trades] == list(range(1, 11))
    assert all(t.aggressor is Side.BUY and t.price == 50 for t in trades)
    assert stats.gaps == 0
