"""Operating a real engine: health, reflection, metrics, limits, ready file, shutdown, and
its thread stacks on SIGUSR1."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest
from engine_harness import EngineProcess, Stubs, order, start_engine
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from dome.stacks import DUMP_SIGNAL
from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr
from waiting import eventually


async def test_health_is_serving(engine: EngineProcess) -> None:
    async with grpc.aio.insecure_channel(engine.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "dome.v1.TradingService", "dome.v1.MarketDataService"):
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_services(engine: EngineProcess) -> None:
    async with grpc.aio.insecure_channel(engine.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = stub.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        reply = await call.read()
        await call.done_writing()
    names = {s.name for s in reply.list_services_response.service}
    assert {"dome.v1.TradingService", "dome.v1.MarketDataService", "grpc.health.v1.Health"} <= names


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


async def test_metrics_count_orders_and_trades(engine: EngineProcess, stubs: Stubs) -> None:
    sym = engine.symbol()
    await stubs.submit("alice", order(sym, "sell", "2", "100"))
    await stubs.submit("bob", order(sym, "buy", "1", "100"))
    await stubs.submit("bob", order(sym, "buy", "0", "100"))

    text = await asyncio.to_thread(scrape, engine.metrics)
    lines = set(text.splitlines())
    assert f'dome_orders_total{{outcome="new",symbol="{sym}",type="limit"}} 1.0' in lines
    assert f'dome_orders_total{{outcome="filled",symbol="{sym}",type="limit"}} 1.0' in lines
    assert f'dome_rejects_total{{reason="qty_not_positive",symbol="{sym}"}} 1.0' in lines
    assert f'dome_trades_total{{symbol="{sym}"}} 1.0' in lines
    assert f'dome_sequence{{symbol="{sym}"}} 3.0' in lines
    assert f'dome_book_levels{{side="ask",symbol="{sym}"}} 1.0' in lines
    for name in (
        "dome_match_seconds_bucket",
        "dome_order_latency_seconds_count",
        "dome_batch_size",
    ):
        assert name in text
    assert 'order_id="' not in text
    assert 'account="' not in text


async def test_rate_limit_and_stream_limit(tmp_path: Path) -> None:
    engine = start_engine(tmp_path, "--rate-limit=5", "--max-streams=1")
    try:
        async with grpc.aio.insecure_channel(engine.address) as channel:
            stubs = Stubs(channel, engine)
            sym = engine.symbol()
            codes = []
            for _ in range(8):
                try:
                    await stubs.submit("alice", order(sym, "buy", "1", "1"))
                    codes.append(grpc.StatusCode.OK)
                except grpc.aio.AioRpcError as exc:
                    codes.append(exc.code())
            assert codes[:5] == [grpc.StatusCode.OK] * 5
            assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes[5:]
            text = await asyncio.to_thread(scrape, engine.metrics)
            assert 'dome_refused_calls_total{code="resource_exhausted"}' in text
            # Another account has its own budget.
            assert (await stubs.submit("bob", order(sym, "buy", "1", "1"))).seq > 0

            first = stubs.trading.StreamExecutions(
                tr.StreamExecutionsRequest(), metadata=engine.auth("carol")
            )
            await asyncio.wait_for(first.initial_metadata(), 10)
            second = stubs.trading.StreamExecutions(
                tr.StreamExecutionsRequest(), metadata=engine.auth("carol")
            )
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await asyncio.wait_for(second.read(), 10)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            first.cancel()
        assert engine.alive()
    finally:
        assert engine.stop() == 0


async def test_a_stream_over_its_rate_is_slowed_not_refused(tmp_path: Path) -> None:
    """SubmitOrders over the account's rate waits (read no further), then goes on."""
    engine = start_engine(tmp_path, "--rate-limit=50")  # a burst of 50
    try:
        async with grpc.aio.insecure_channel(engine.address) as channel:
            stubs = Stubs(channel, engine)
            sym = engine.symbol()
            call = stubs.trading.SubmitOrders(metadata=engine.auth("alice"))
            started = asyncio.get_running_loop().time()
            for b in range(4):  # 100 commands: the burst, then 50 more at 50/s
                actions = [
                    tr.OrderAction(submit=order(sym, "buy", "1", f"{10 + b}.{i:02d}"))
                    for i in range(25)
                ]
                await call.write(tr.OrderBatch(batch_id=b, actions=actions))
            await call.done_writing()
            results = [r async for r in call]
            took = asyncio.get_running_loop().time() - started
            assert [r.batch_id for r in results] == [0, 1, 2, 3]
            assert all(res.status == pb.ORDER_STATUS_NEW for r in results for res in r.results)
            assert await call.code() == grpc.StatusCode.OK
            # The 50 commands past the burst cannot have been read in under a second.
            assert took >= 0.9, took
            text = await asyncio.to_thread(scrape, engine.metrics)
            assert "resource_exhausted" not in text
            paced = [ln for ln in text.splitlines() if ln.startswith("dome_paced_seconds_total")]
            assert paced, text
            assert float(paced[0].split()[-1]) > 0.0, paced  # it waited, and counted it

            # More than a burst in one batch would wait forever: refused, and says why.
            call = stubs.trading.SubmitOrders(metadata=engine.auth("bob"))
            actions = [
                tr.OrderAction(submit=order(sym, "buy", "1", f"9.{i:02d}")) for i in range(51)
            ]
            await call.write(tr.OrderBatch(batch_id=1, actions=actions))
            with pytest.raises(grpc.aio.AioRpcError) as info:
                async for _ in call:
                    pass
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "exceed the burst of 50" in str(info.value.details())
        assert engine.alive()
    finally:
        assert engine.stop() == 0


def test_ready_file_and_sigterm_exit_zero(tmp_path: Path) -> None:
    engine = start_engine(tmp_path, "--id=engine-7")
    ready = json.loads((tmp_path / "ready.json").read_text())
    assert ready["role"] == "engine"
    assert ready["id"] == "engine-7"
    assert ready["pid"] == engine.proc.pid
    assert ready["address"] == engine.address
    assert ready["metrics"].startswith("http://127.0.0.1:")
    assert ready["core"] in ("native", "python")

    assert engine.stop() == 0
    assert not (tmp_path / "ready.json").exists()
    lines = [json.loads(line) for line in engine.log().splitlines() if line.startswith("{")]
    lifecycle = [e for e in lines if e["msg"].startswith("engine ")]
    assert [e["msg"] for e in lifecycle] == [
        "engine starting",
        "engine serving",
        "engine stopping",
        "engine stopped",
    ]
    assert lifecycle[0]["core"] == lifecycle[1]["core"] == ready["core"]
    assert not list(Path("src").glob("**/*.log"))


def test_bad_accounts_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "accounts.json"
    bad.write_text("[1, 2]")
    done = subprocess.run(
        [sys.executable, "-m", "dome.engine", f"--accounts={bad}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "accounts" in done.stderr


async def test_sigusr1_prints_every_threads_stack_and_the_engine_runs_on(
    engine: EngineProcess,
) -> None:
    """``kill -USR1``: where each thread is, in the log (dome.stacks); nothing stops."""
    before = len(engine.log())
    engine.proc.send_signal(DUMP_SIGNAL)
    dump = await eventually(
        lambda: "most recent call first" in engine.log()[before:] and engine.log()[before:],
        10,
        "the thread stacks in the engine's log",
    )
    assert dump.count("Thread 0x") + dump.count("Current thread 0x") >= 2, dump  # loop, gRPC
    assert engine.alive()
    async with grpc.aio.insecure_channel(engine.address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
