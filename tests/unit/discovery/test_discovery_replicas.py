"""Two ``dome discovery --leader-lease`` replicas in one loop (``dome.discovery.replica``).

Each is the real ``serve()`` with the settings ``dome discovery`` parses from its command
line (so the engine grant is the CLI's), two real gRPC servers on port 0, electing on a
real HTTP Lease server (lease_server.py) and sharing one file store, as two pods share
the symbol Leases. An engine (a real ``DiscoveryAgent``) registers through the standby,
which relays to the leader; the leader then stops without giving the Lease up (as a
kill -9 leaves it), the standby takes over once the Lease lapses, waits out the
recovery window and serves the same placement, and the engine's write grant holds
throughout. A leader whose API server stops answering is
deposed: it stops deciding and ``serve`` raises ``Deposed``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from discovery_fakes import PEER, FakeEngine
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lease_server import LeaseServer

from dome import kube
from dome.cli_commands.discovery import add_discovery_arguments, settings_from_args
from dome.discovery.file_store import DEFAULT_NAME, FileStore
from dome.discovery.leader import LeaderElector
from dome.discovery.records import Versioned
from dome.discovery.replica import Deposed
from dome.discovery.server import DiscoverySettings, make_elector, serve
from dome.health import READINESS
from dome.serving import ReadyInfo
from dome.v1 import discovery_pb2 as pb
from dome.v1 import discovery_pb2_grpc as pb_grpc
from waiting import eventually

LEASE = "demo-discovery-leader"
#: A replica that never stops (a broken shutdown) fails the test instead of the run.
pytestmark = pytest.mark.timeout(60)


def settings(tmp_path: Path, identity: str, *extra: str) -> DiscoverySettings:
    parser = argparse.ArgumentParser()
    add_discovery_arguments(parser)
    secret = tmp_path / "peer-secret"
    secret.write_text(PEER.secret or "")
    args = parser.parse_args([
        "--store", "kubernetes", "--lease-namespace", "ns1", "--leader-lease", LEASE,
        "--identity", identity, "--advertise-host", "127.0.0.1", "--health-port", "0",
        "--peer-secret-file", str(secret), "--engines-expected", "1",
        "--replication-factor", "1", "--startup-grace", "0", *extra,
    ])  # fmt: skip
    result: DiscoverySettings = settings_from_args(args, parser)
    return result


class SlowStore(FileStore):
    """A file store whose load takes ``delay`` seconds, as a loaded API server's does."""

    def __init__(self, path: Path, delay: float) -> None:
        super().__init__(path)
        self.delay = delay

    async def load(self, symbols: Sequence[str]) -> dict[str, Versioned]:
        await asyncio.sleep(self.delay)  # the API's latency, not a wait on a condition
        return await super().load(symbols)


class Replica:
    """One ``serve()`` running as a task: its address once serving, its stop event."""

    def __init__(
        self, settings: DiscoverySettings, url: str, store: Path, *, slow_load: float = 0.0
    ) -> None:
        self.stop = asyncio.Event()
        self.info: ReadyInfo | None = None
        #: False: it stops as a kill -9 would leave the Lease, held until it lapses.
        self.releases = True
        api = kube.api_client(kube.token_configuration(url))

        def elector(port: int) -> LeaderElector:
            made = make_elector(settings, port, api)
            release = made.release

            async def maybe_release() -> None:
                if self.releases:
                    await release()

            made.release = maybe_release  # type: ignore[method-assign]
            return made

        self.task = asyncio.create_task(
            serve(
                settings,
                self._ready,
                self.stop,
                store=SlowStore(store, slow_load),
                handle_signals=False,
                elector=elector,
            )
        )

    def _ready(self, info: ReadyInfo) -> None:
        self.info = info

    @property
    def address(self) -> str:
        assert self.info is not None
        return self.info.address

    async def serving(self) -> Replica:
        await eventually(lambda: self.info is not None or self.task.done(), 10, "serving")
        if self.task.done():
            self.task.result()
        return self

    async def ready(self) -> bool:
        assert self.info is not None
        async with grpc.aio.insecure_channel(self.info.health) as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=READINESS), timeout=1
            )
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    async def placement(self) -> pb.Placement:
        async with grpc.aio.insecure_channel(self.address) as channel:
            answer: pb.Placement = await pb_grpc.DiscoveryServiceStub(channel).GetPlacement(
                pb.GetPlacementRequest(), timeout=2
            )
        return answer

    async def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(Deposed):
            await asyncio.wait_for(self.task, 15)


@pytest.fixture
async def replicas(
    api: tuple[LeaseServer, str], tmp_path: Path
) -> AsyncIterator[tuple[LeaseServer, Replica, Replica]]:
    server, url = api
    store = tmp_path / DEFAULT_NAME
    a = await Replica(settings(tmp_path, "discovery-a"), url, store).serving()
    await eventually(lambda: server.leases.get(("ns1", LEASE)), 10, "a to take the Lease")
    b = await Replica(settings(tmp_path, "discovery-b"), url, store).serving()
    try:
        yield server, a, b
    finally:
        await b.close()
        await a.close()


def holder(server: LeaseServer) -> str:
    return str(server.leases[("ns1", LEASE)]["spec"]["holderIdentity"] or "")


async def test_an_engine_rides_a_handover_on_its_grant(
    replicas: tuple[LeaseServer, Replica, Replica],
) -> None:
    server, a, b = replicas
    assert holder(server) == "discovery-a"
    annotations = server.leases[("ns1", LEASE)]["metadata"]["annotations"]
    assert annotations["dome.dev/leader-address"] == a.address, "the bound port, advertised"
    engine = FakeEngine(b.address, "engine-0")  # through the standby: relayed to a
    await engine.agent.start()
    try:

        async def placed() -> bool:
            placement = await b.placement()
            return all(s.primary == "engine-0" for s in placement.symbols) and bool(
                placement.symbols
            )

        await eventually(placed, 15, "the placement, read through the standby")
        # Readiness is re-evaluated every half second (dome.health).
        await eventually(a.ready, 5, "the leader Ready once placed")
        await eventually(b.ready, 5, "the standby Ready: it reads the Lease")
        before = {s.symbol: s.epoch for s in (await b.placement()).symbols}
        assert engine.agent.lease_ttl == 4.5, "the CLI's grant outlasts a handover"
        # a dies holding the Lease (as after a kill -9): b takes it once it lapses (2 s),
        # loads the store and decides nothing for its recovery window.
        a.releases = False
        await a.close()
        stopped = time.monotonic()
        lapses: list[float] = []
        while True:
            if not engine.agent.lease_valid():
                lapses.append(time.monotonic() - stopped)
            placement = await _placement_or_none(b)
            if holder(server) == "discovery-b" and placement is not None:
                after = {s.symbol: (s.epoch, s.primary) for s in placement.symbols}
                if time.monotonic() - stopped > 9.5:  # past the lapse and b's recovery
                    break
            assert time.monotonic() - stopped < 30, "b never served the placement"
            await asyncio.sleep(0.02)  # a sampling interval of the grant, bounded above
        assert not lapses, f"the engine's grant lapsed during the handover at {lapses[:3]} s"
        assert after == {symbol: (epoch, "engine-0") for symbol, epoch in before.items()}, (
            "the same primary at the same epoch: no failover through a handover"
        )
        await eventually(b.ready, 5, "the new leader Ready")
    finally:
        await engine.agent.stop()


async def _placement_or_none(replica: Replica) -> pb.Placement | None:
    try:
        return await replica.placement()
    except grpc.aio.AioRpcError:
        return None


async def test_a_leader_cut_off_from_the_api_server_stops_deciding_and_exits(
    replicas: tuple[LeaseServer, Replica, Replica],
) -> None:
    server, a, b = replicas
    engine = FakeEngine(a.address, "engine-0")
    await engine.agent.start()
    try:
        await eventually(a.ready, 15, "a leading and placed")
        server.refuse = True  # the API server answers 500 to everything now
        started = time.monotonic()
        with pytest.raises(Deposed, match="discovery-a lost the leader Lease"):
            await asyncio.wait_for(a.task, 10)
    finally:
        await engine.agent.stop()
    # Within its renew deadline (1.4 s) of the last renewal, plus the shutdown.
    assert time.monotonic() - started < 5
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await a.placement()
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    # The standby cannot read the Lease either: not Ready, so the Service skips it.
    await eventually(lambda: _not(b.ready), 5, "the standby unready")
    with pytest.raises(grpc.aio.AioRpcError) as relayed:
        await b.placement()
    assert relayed.value.code() is grpc.StatusCode.UNAVAILABLE


async def _not(probe: Any) -> bool:
    return not await probe()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lease-ttl", "1"], "must outlast a discovery handover"),
        (["--identity", ""], "--leader-lease needs --identity and --advertise-host"),
    ],
)
def test_the_command_line_refuses_an_election_that_could_not_work(
    tmp_path: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        settings(tmp_path, "discovery-a", *flags)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_one_discovery_keeps_the_short_grant(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_discovery_arguments(parser)
    args = parser.parse_args(["--peer-auth", "none"])
    assert settings_from_args(args, parser).core.timings.lease_ttl == 1.0


async def test_a_store_load_slower_than_the_renew_deadline_keeps_the_term(
    api: tuple[LeaseServer, str], tmp_path: Path
) -> None:
    """The leader renews while it loads: a 2 s load (renew deadline 1.4 s) must not
    depose it, or every new leader on a slow API server would fall at once."""
    server, url = api
    a = await Replica(
        settings(tmp_path, "discovery-a"), url, tmp_path / DEFAULT_NAME, slow_load=2.0
    ).serving()
    engine = FakeEngine(a.address, "engine-0")
    await engine.agent.start()
    try:
        await eventually(a.ready, 15, "a leading and placed after its slow load")
        assert not a.task.done(), "deposed while loading"
        assert holder(server) == "discovery-a"
    finally:
        await engine.agent.stop()
        await a.close()
