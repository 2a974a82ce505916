"""R9: execution and trade streams survive the failover of the engine serving them.

An SDK client connected through discovery subscribes to its executions and to the
symbol's trades, then the symbol's primary (the replica the SDK streams from) is killed
with SIGKILL while orders keep flowing. What the subscriber saw must be exactly what a
fresh replay from the new primary shows: no report or trade missing, none twice.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from cluster_harness import ACCOUNTS, running_cluster, wait_for

from dome.client import Client
from dome.client.models import StreamStats
from dome.v1 import market_data_pb2 as md
from dome.v1 import market_data_pb2_grpc as md_grpc
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc
from waiting import eventually

pytestmark = pytest.mark.timeout(180)

SYMBOL = "AAA-USD"


async def test_streams_resume_across_failover_without_gap_or_duplicate(tmp_path: Path) -> None:
    with running_cluster(tmp_path, 3, symbols=(SYMBOL,)) as cluster:
        client = Client(discovery=cluster.discovery_address, token=ACCOUNTS["alice"])
        await client.connect()
        bob = Client(discovery=cluster.discovery_address, token=ACCOUNTS["bob"])
        await bob.connect()
        exec_stats, trade_stats = StreamStats(), StreamStats()
        executions = await client.subscribe_executions([SYMBOL], stats=exec_stats)
        trades = await client.subscribe_trades(SYMBOL, stats=trade_stats)
        seen_reports: list[tuple[object, ...]] = []
        seen_trades: list[int] = []

        async def collect_reports() -> None:
            async for e in executions:
                seen_reports.append(
                    (
                        e.seq,
                        int(e.exec_type) if e.exec_type else 0,
                        e.order_id,
                        e.client_order_id,
                        e.fill.trade_id if e.fill else 0,
                        Decimal(e.remaining_qty),
                    )
                )

        async def collect_trades() -> None:
            async for t in trades:
                seen_trades.append(t.trade_id)

        tasks = [asyncio.create_task(collect_reports()), asyncio.create_task(collect_trades())]

        async def trade(pairs: int) -> None:
            # Alice's buy rests (NEW), Bob's sell takes it (TRADE): two reports for alice.
            for _ in range(pairs):
                await client.submit_order(SYMBOL, "buy", "1", "100.00")
                await bob.submit_order(SYMBOL, "sell", "1", "100.00")

        await trade(20)
        old = cluster.primary(SYMBOL)
        cluster.engine(old).kill()
        killed = time.monotonic()
        await trade(20)
        print(f"orders flowed again {time.monotonic() - killed:.2f}s after the kill")

        # The truth: a fresh replay of every report from the new primary.
        primary = wait_for(lambda: cluster.primary(SYMBOL), 10, "a primary")
        channel = grpc.aio.insecure_channel(cluster.address_of(primary))
        stub = tr_grpc.TradingServiceStub(channel)
        call = stub.StreamExecutions(
            tr.StreamExecutionsRequest(symbols=[SYMBOL], from_seq={SYMBOL: 1}),
            metadata=(("authorization", f"Bearer {ACCOUNTS['alice']}"),),
        )
        expected: list[tuple[object, ...]] = []
        deadline = time.monotonic() + 10
        async for report in call:
            expected.append(
                (
                    report.seq,
                    int(report.exec_type),
                    report.order_id,
                    report.client_order_id,
                    report.fill.trade_id,
                    Decimal(report.remaining_qty),
                )
            )
            if len(expected) >= 80 or time.monotonic() > deadline:
                break
        call.cancel()
        book = await md_grpc.MarketDataServiceStub(channel).GetBook(
            md.GetBookRequest(symbol=SYMBOL)
        )
        await channel.close()
        assert len(expected) == 80, f"the replay holds {len(expected)} reports, not 80"

        await eventually(
            lambda: len(seen_reports) >= len(expected) and len(seen_trades) >= 40,
            15,
            "the subscriber caught up",
        )
        assert seen_reports == expected
        assert seen_trades == list(range(1, 41)), seen_trades
        assert book.seq == 80
        # The streams really moved to another engine.
        assert exec_stats.resyncs >= 1
        assert trade_stats.resyncs >= 1
        for task in tasks:
            task.cancel()
        await client.close()
        await bob.close()
