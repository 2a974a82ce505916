"""A burst of more concurrent unary calls on one channel than grpc-core queues by default.

grpc-core holds calls the application has not picked up yet in a pending queue (1,000
by default, ``grpc.server.max_pending_requests``) and sheds the ones beyond it with a
bare CANCELLED that no client can tell from a dropped connection, and the engine never
hears of them. The engine raises that queue and sheds at its own admission instead,
typed: RESOURCE_EXHAUSTED with a message saying what to do.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import grpc
from engine_harness import EngineProcess, order, start_engine

from dome.v1 import trading_pb2_grpc as tr_grpc

#: Comfortably over grpc-core's default pending limit (1,000).
BURST = 1_500


async def test_a_burst_over_the_pending_limit_is_served_or_shed_typed(
    engine: EngineProcess,
) -> None:
    sym = engine.symbol()
    async with grpc.aio.insecure_channel(engine.address) as channel:
        stub = tr_grpc.TradingServiceStub(channel)
        await channel.channel_ready()

        async def one(i: int) -> grpc.StatusCode:
            request = order(sym, "buy", "1", "5", client_order_id=f"burst-{i}")
            try:
                await stub.SubmitOrder(request, metadata=engine.auth("alice"), timeout=60)
            except grpc.aio.AioRpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

        codes = Counter(await asyncio.gather(*(one(i) for i in range(BURST))))
    # The default limit (20,000 calls in progress) holds the whole burst: every call served.
    assert codes == {grpc.StatusCode.OK: BURST}, codes


async def test_past_its_limit_the_engine_sheds_typed(tmp_path: Path) -> None:
    # A limit small enough that a burst exceeds it on any machine.
    small = start_engine(tmp_path, "--max-calls=5")
    try:
        async with grpc.aio.insecure_channel(small.address) as channel:
            stub = tr_grpc.TradingServiceStub(channel)
            await channel.channel_ready()
            details: list[str] = []

            async def one(i: int) -> grpc.StatusCode:
                request = order("S0", "buy", "1", "5", client_order_id=f"small-{i}")
                try:
                    await stub.SubmitOrder(request, metadata=small.auth("alice"), timeout=60)
                except grpc.aio.AioRpcError as exc:
                    details.append(exc.details() or "")
                    return exc.code()
                return grpc.StatusCode.OK

            codes = Counter(await asyncio.gather(*(one(i) for i in range(BURST))))
        # How many exceed the limit depends on scheduling; how they are refused does not.
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
        assert all("engine busy" in d and "retry with backoff" in d for d in details), details
    finally:
        small.stop()
