"""Discovery served in-process on 127.0.0.1:0, driven by real DiscoveryAgents and raw stubs."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from discovery_fakes import PEER, FakeEngine, eventually, full_placement, primaries
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dome.discovery.core import CoreConfig, Timings
from dome.discovery.server import SERVICE_NAME, DiscoverySettings, ReadyInfo, serve
from dome.discovery.store import MemoryStore
from dome.v1 import discovery_pb2 as pb
from dome.v1 import discovery_pb2_grpc as pb_grpc

SYMBOLS = ("A", "B", "C", "D", "E", "F")


async def finishes(stopping: Coroutine[Any, Any, None], within: float) -> bool:
    """Whether ``stopping`` completes within ``within`` seconds; it is never cancelled.

    (``asyncio.wait_for`` would cancel it on timeout, and a stop that swallows that
    cancellation would then look like one that finished.)
    """
    task = asyncio.create_task(stopping)
    done, _ = await asyncio.wait({task}, timeout=within)
    if task in done:
        task.result()
        return True
    return False


@dataclass
class Running:
    address: str
    #: grpc-stubs type stubs as synchronous; these are grpc.aio calls.
    stub: Any
    channel: grpc.aio.Channel
    store: MemoryStore


@pytest.fixture
async def discovery() -> AsyncIterator[Running]:
    stop = asyncio.Event()
    ready: asyncio.Future[ReadyInfo] = asyncio.get_running_loop().create_future()
    store = MemoryStore()
    settings = DiscoverySettings(
        core=CoreConfig(SYMBOLS, 3, engines_expected=3, timings=Timings()),
        metrics_port=-1,
        peer_auth=PEER,
    )
    task = asyncio.create_task(
        serve(settings, ready.set_result, stop, store=store, handle_signals=False)
    )
    info = await asyncio.wait_for(ready, 10)
    channel = grpc.aio.insecure_channel(info.address)
    try:
        yield Running(info.address, pb_grpc.DiscoveryServiceStub(channel), channel, store)
    finally:
        await channel.close(None)
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_three_engines_get_an_even_spread_and_health_turns_serving(
    discovery: Running,
) -> None:
    health: Any = health_pb2_grpc.HealthStub(discovery.channel)
    request = health_pb2.HealthCheckRequest(service=SERVICE_NAME)
    assert (await health.Check(request)).status == health_pb2.HealthCheckResponse.NOT_SERVING
    engines = [FakeEngine(discovery.address, f"e{i}") for i in range(3)]
    await asyncio.gather(*(e.agent.start() for e in engines))
    try:
        placement = await full_placement(engines[0], len(SYMBOLS))
        assert Counter(primaries(placement).values()) == {"e0": 2, "e1": 2, "e2": 2}
        assert placement.replication_factor == 3
        assert placement.acks == "all"
        assert all(len(s.followers) == 2 for s in placement.symbols)
        assert all(e.agent.lease_valid() for e in engines)
        status = (await health.Check(request)).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        listed = await discovery.stub.ListEngines(pb.ListEnginesRequest())
        assert [(e.engine_id, e.alive) for e in listed.engines] == [
            ("e0", True), ("e1", True), ("e2", True)
        ]  # fmt: skip
        first = await discovery.stub.AssignClient(pb.AssignClientRequest(client_id="bot-7"))
        again = await discovery.stub.AssignClient(pb.AssignClientRequest(client_id="bot-7"))
        assert first.engine_id == again.engine_id
        assert first.address == f"{first.engine_id}.local:7100"
        assert len(first.placement.symbols) == len(SYMBOLS)
        spread = Counter(
            [
                (
                    await discovery.stub.AssignClient(pb.AssignClientRequest(client_id=f"c{i}"))
                ).engine_id
                for i in range(60)
            ]
        )
        assert len(spread) == 3
    finally:
        await asyncio.gather(*(e.agent.stop() for e in engines))


async def test_a_silent_primary_is_replaced_by_the_replica_holding_most(
    discovery: Running,
) -> None:
    engines = {f"e{i}": FakeEngine(discovery.address, f"e{i}", seq=10) for i in range(3)}
    await asyncio.gather(*(e.agent.start() for e in engines.values()))
    try:
        placement = await full_placement(engines["e1"], len(SYMBOLS))
        lost = [s for s in placement.symbols if s.primary == "e0"]
        for symbol in lost:
            engines[symbol.followers[-1]].seq[symbol.symbol] = 12
        await engines["e0"].agent.stop()
        assert not engines["e0"].agent.lease_valid()

        def failed_over() -> bool:
            now = primaries(engines["e1"].agent.current_placement)
            return all(now.get(s.symbol) not in ("", "e0") for s in lost)

        await eventually(failed_over, 5, "new primaries")
        final = engines["e1"].agent.current_placement
        assert final is not None
        for before in lost:
            (after,) = [s for s in final.symbols if s.symbol == before.symbol]
            assert after.primary == before.followers[-1], "not the replica holding most"
            assert after.epoch == before.epoch + 1
            assert after.seq == 12
        opened = [
            s
            for p in engines["e2"].placements
            for s in p.symbols
            if s.symbol == lost[0].symbol and s.primary == ""
        ]
        assert opened, "the election was never published open"
        alive = {e.engine_id: e.alive for e in final.engines}
        assert alive == {"e0": False, "e1": True, "e2": True}
    finally:
        await asyncio.gather(*(e.agent.stop() for e in engines.values() if e.engine_id != "e0"))


async def test_heartbeats_of_unknown_engines_get_not_found(discovery: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await discovery.stub.Heartbeat(
            pb.HeartbeatRequest(engine_id="ghost", incarnation="x"), metadata=PEER.metadata
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await discovery.stub.RegisterEngine(
            pb.RegisterEngineRequest(engine_id="e9"), metadata=PEER.metadata
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_primary_records_in_sync_changes_and_stale_ones_are_refused(
    discovery: Running,
) -> None:
    engines = [FakeEngine(discovery.address, f"e{i}") for i in range(3)]
    await asyncio.gather(*(e.agent.start() for e in engines))
    try:
        placement = await full_placement(engines[0], len(SYMBOLS))
        symbol = placement.symbols[0]
        owner = next(e for e in engines if e.engine_id == symbol.primary)
        other = next(e for e in engines if e.engine_id != symbol.primary)
        shrunk = [symbol.primary, symbol.followers[0]]
        assert await owner.agent.update_in_sync(symbol.symbol, symbol.epoch, shrunk)
        assert not await other.agent.update_in_sync(symbol.symbol, symbol.epoch, shrunk)
        assert not await owner.agent.update_in_sync(symbol.symbol, symbol.epoch + 1, shrunk)

        def recorded() -> bool:
            now = owner.agent.current_placement
            assert now is not None
            (s,) = [s for s in now.symbols if s.symbol == symbol.symbol]
            return sorted(s.in_sync) == sorted(shrunk)

        await eventually(recorded, 5, "the in-sync change published")
        stored = discovery.store.records[symbol.symbol].record
        assert sorted(stored.in_sync) == sorted(shrunk)
    finally:
        await asyncio.gather(*(e.agent.stop() for e in engines))


async def test_watch_starts_with_the_current_placement_and_sees_every_change(
    discovery: Running,
) -> None:
    stream = discovery.stub.WatchPlacement(pb.WatchPlacementRequest())
    first = await asyncio.wait_for(stream.read(), 5)
    assert isinstance(first, pb.Placement)
    engine = FakeEngine(discovery.address, "solo")
    await engine.agent.start()
    try:
        versions = [first.version]
        while True:
            placement = await asyncio.wait_for(stream.read(), 10)
            assert isinstance(placement, pb.Placement)
            versions.append(placement.version)
            if len(placement.symbols) == len(SYMBOLS):
                break
        assert versions == sorted(set(versions)), "versions must increase"
        assert {s.primary for s in placement.symbols} == {"solo"}
    finally:
        stream.cancel()
        await engine.agent.stop()


async def test_a_slow_watcher_is_cut_off_instead_of_buffering_without_bound() -> None:
    from dome.discovery.errors import SlowWatcher
    from dome.discovery.records import PlacementView
    from dome.discovery.service import Watcher

    watcher = Watcher(2)
    assert watcher.offer(PlacementView(1))
    assert watcher.offer(PlacementView(2))
    assert not watcher.offer(PlacementView(3))
    with pytest.raises(SlowWatcher):
        async for _ in watcher:
            pass


async def test_an_agent_stops_even_when_poked_in_the_same_instant(discovery: Running) -> None:
    """A placement arriving as the engine shuts down must not swallow the stop.

    ``on_placement`` pokes the heartbeat loop; a poke and a cancel landing in one loop
    iteration once made ``asyncio.wait_for`` (Python 3.11) return instead of raising
    ``CancelledError``, so the loop kept heartbeating and ``stop()`` never returned.
    """
    engine = FakeEngine(discovery.address, "solo")
    await engine.agent.start()
    await asyncio.sleep(0)  # one scheduler pass: the heartbeat loop parks on its poke event
    engine.agent.poke()
    assert await finishes(engine.agent.stop(), 5), "agent.stop() hung"
    assert not engine.agent.lease_valid()


async def test_discovery_stops_even_when_kicked_in_the_same_instant() -> None:
    """A registration that kicks the tick loop as discovery stops must not swallow the stop."""
    from dome.discovery.service import Discovery

    config = CoreConfig(SYMBOLS, 3, engines_expected=3, timings=Timings())
    discovery = Discovery(config, MemoryStore())
    await discovery.start()
    await asyncio.sleep(0)  # one scheduler pass: the tick loop parks on its kick event
    discovery.register("e0", "i1", "e0.local:7100", "", [])
    assert await finishes(discovery.stop(), 5), "Discovery.stop() hung"


async def test_a_draining_engine_hands_its_primaries_off_before_its_lease_ends(
    discovery: Running,
) -> None:
    engines = {f"e{i}": FakeEngine(discovery.address, f"e{i}", seq=10) for i in range(3)}
    await asyncio.gather(*(e.agent.start() for e in engines.values()))
    try:
        before = await full_placement(engines["e0"], len(SYMBOLS))
        moving = {s.symbol: s.epoch for s in before.symbols if s.primary == "e0"}
        assert moving
        started = asyncio.get_running_loop().time()
        assert await engines["e0"].agent.drain(5.0)
        took = asyncio.get_running_loop().time() - started
        assert took < Timings().dead_after, f"drained in {took:.2f}s: no faster than a lapse"
        after = engines["e0"].agent.current_placement
        assert after is not None
        for s in after.symbols:
            assert s.primary in ("e1", "e2")
            if s.symbol in moving:
                assert s.epoch == moving[s.symbol] + 1
                assert "e0" in s.followers
        assert engines["e0"].agent.lease_valid(), "a drained engine still heartbeats"
        listed = await discovery.stub.ListEngines(pb.ListEnginesRequest())
        assert [(e.engine_id, e.alive, e.draining) for e in listed.engines] == [
            ("e0", True, True), ("e1", True, False), ("e2", True, False)
        ]  # fmt: skip
        for i in range(20):
            assigned = await discovery.stub.AssignClient(pb.AssignClientRequest(client_id=f"c{i}"))
            assert assigned.engine_id != "e0"
        again = await discovery.stub.DrainEngine(
            pb.DrainEngineRequest(engine_id="e0", incarnation=engines["e0"].agent.incarnation),
            metadata=PEER.metadata,
        )
        assert (again.primaries, again.stranded) == (0, 0)
    finally:
        await asyncio.gather(*(e.agent.stop() for e in engines.values()))


async def test_a_drain_with_nobody_to_hand_to_gives_up_at_once(discovery: Running) -> None:
    engine = FakeEngine(discovery.address, "solo")
    await engine.agent.start()
    try:
        await full_placement(engine, len(SYMBOLS))
        started = asyncio.get_running_loop().time()
        assert not await engine.agent.drain(5.0)
        assert asyncio.get_running_loop().time() - started < 2.0, "waited for the timeout"
        assert set(primaries(engine.agent.current_placement).values()) == {"solo"}
    finally:
        await engine.agent.stop()


async def test_drain_requests_from_unknown_engines_are_refused(discovery: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await discovery.stub.DrainEngine(
            pb.DrainEngineRequest(engine_id="ghost", incarnation="x"), metadata=PEER.metadata
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await discovery.stub.DrainEngine(
            pb.DrainEngineRequest(engine_id="e9"), metadata=PEER.metadata
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_drain_gives_up_once_discovery_is_gone_and_the_lease_lapsed() -> None:
    stop = asyncio.Event()
    ready: asyncio.Future[ReadyInfo] = asyncio.get_running_loop().create_future()
    settings = DiscoverySettings(
        core=CoreConfig(SYMBOLS, 3, timings=Timings()), metrics_port=-1, peer_auth=PEER
    )
    task = asyncio.create_task(
        serve(settings, ready.set_result, stop, store=MemoryStore(), handle_signals=False)
    )
    info = await asyncio.wait_for(ready, 10)
    engine = FakeEngine(info.address, "solo")
    await engine.agent.start()
    try:
        await full_placement(engine, len(SYMBOLS))
        stop.set()
        await asyncio.wait_for(task, 10)
        started = asyncio.get_running_loop().time()
        assert not await engine.agent.drain(10.0)
        took = asyncio.get_running_loop().time() - started
        assert took <= engine.agent.lease_ttl + 1.0, f"gave up only after {took:.2f}s"
    finally:
        await engine.agent.stop()


async def test_evacuate_engines_moves_replicas_off_and_reports_progress(
    discovery: Running,
) -> None:
    engines = {name: FakeEngine(discovery.address, name) for name in ("e0", "e1", "e2")}
    await asyncio.gather(*(e.agent.start() for e in engines.values()))
    try:
        await full_placement(engines["e0"], len(SYMBOLS))
        started = await discovery.stub.EvacuateEngines(
            pb.EvacuateEnginesRequest(engine_ids=["e2"]), metadata=PEER.metadata
        )
        assert list(started.leaving) == ["e2"]
        assert started.replicas_left > 0, "the first placement gave e2 replicas"
        assert not started.done
        listed = await discovery.stub.ListEngines(pb.ListEnginesRequest())
        assert [(e.engine_id, e.draining) for e in listed.engines] == [
            ("e0", False), ("e1", False), ("e2", True)
        ]  # fmt: skip
        cancelled = await discovery.stub.EvacuateEngines(
            pb.EvacuateEnginesRequest(), metadata=PEER.metadata
        )
        assert (list(cancelled.leaving), cancelled.replicas_left) == ([], 0)
    finally:
        await asyncio.gather(*(e.agent.stop() for e in engines.values()))


async def test_evacuate_engines_is_a_peer_call_and_refuses_an_empty_id(
    discovery: Running,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await discovery.stub.EvacuateEngines(pb.EvacuateEnginesRequest(engine_ids=["e1"]))
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await discovery.stub.EvacuateEngines(
            pb.EvacuateEnginesRequest(engine_ids=["e1", ""]), metadata=PEER.metadata
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    listed = await discovery.stub.ListEngines(pb.ListEnginesRequest())
    assert not any(e.draining for e in listed.engines), "a refused call changed nothing"
