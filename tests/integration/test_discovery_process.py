"""``dome discovery`` as a real process, driven by real DiscoveryAgents and raw stubs.

Covers what only a process shows: the command line (bad flags exit 2, no peer secret
exits 2 unless peer authentication is explicitly off), the ready file, failover within
about two seconds of a primary going silent, and epochs that keep rising after
``kill -9`` and a restart on the same data directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from dome.discovery.agent import DiscoveryAgent
from dome.peer_auth import PeerAuth
from dome.v1 import discovery_pb2 as pb
from dome.v1 import discovery_pb2_grpc as pb_grpc
from processes import stop_process
from waiting import eventually, wait_for

DOME = str(Path(sys.executable).parent / "dome")
DEFAULT_SYMBOLS = {"BTC-USD", "ETH-USD", "SOL-USD", "XYZ"}
#: The peer secret of the tests' discovery processes and the engines they fake.
PEER = PeerAuth("discovery-process-test-peer-secret")


def peer_secret_file(directory: Path) -> Path:
    """``PEER``'s secret in a file in ``directory``, for ``--peer-secret-file``."""
    path = directory / "peer-secret"
    path.write_text(f"{PEER.secret}\n")
    return path


class DiscoveryProcess:
    """A ``dome discovery`` child process with its ready file and log."""

    def __init__(self, directory: Path, *args: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.ready_file = directory / "discovery-ready.json"
        self.ready_file.unlink(missing_ok=True)
        self._log = (directory / "discovery.log").open("ab")
        secret = peer_secret_file(directory)
        self.proc = subprocess.Popen(
            [DOME, "discovery", "--data-dir", str(directory), "--ready-file",
             str(self.ready_file), "--peer-secret-file", str(secret), *args],
            stdout=self._log,
            stderr=self._log,
        )  # fmt: skip

    def wait_ready(self, within: float = 30.0) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            assert self.proc.poll() is None, f"discovery exited: {self.log()}"
            if self.ready_file.exists():
                return dict(json.loads(self.ready_file.read_text()))
            return None

        return wait_for(ready, within, "the discovery ready file")

    def log(self) -> str:
        return (self.dir / "discovery.log").read_text()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        code = stop_process(self.proc, sig, 15)
        self._log.close()
        return code


class FakeEngine:
    """An agent that reports every symbol it replicates at the newest epoch it saw."""

    def __init__(self, discovery: str, engine_id: str, seq: int = 5) -> None:
        self.engine_id = engine_id
        self.seq = seq
        self.agent = DiscoveryAgent(
            discovery, engine_id, f"{engine_id}.test:7100", "", self.reports, self.on_placement,
            call_timeout=0.5, metadata=PEER.metadata,
        )  # fmt: skip

    def reports(self) -> list[pb.ReplicaReport]:
        placement = self.agent.current_placement
        if placement is None:
            return []
        return [
            pb.ReplicaReport(symbol=s.symbol, epoch=s.epoch, journaled_seq=self.seq)
            for s in placement.symbols
            if self.engine_id == s.primary or self.engine_id in s.followers
        ]

    def on_placement(self, placement: pb.Placement) -> None:
        self.agent.poke()

    def primaries(self) -> dict[str, str]:
        placement = self.agent.current_placement
        return {} if placement is None else {s.symbol: s.primary for s in placement.symbols}

    def epochs(self) -> dict[str, int]:
        placement = self.agent.current_placement
        return {} if placement is None else {s.symbol: s.epoch for s in placement.symbols}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "flags",
    [
        ["--acks", "sometimes"],
        ["--replication-factor", "0"],
        ["--engines-expected", "0"],
        ["--store", "kubernetes"],
        ["--lease-ttl", "1", "--heartbeat-interval", "0.8"],
        ["--port", "70000"],
        ["--instruments", "/nonexistent/instruments.json"],
        ["--no-such-flag"],
    ],
    ids=lambda flags: flags[0],
)
def test_bad_flags_exit_2_with_one_clear_line(flags: list[str], tmp_path: Path) -> None:
    secret = peer_secret_file(tmp_path)
    done = subprocess.run(
        [DOME, "discovery", "--data-dir", str(tmp_path), "--peer-secret-file", str(secret),
         *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "error:" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        ([], "no peer secret: pass --peer-secret-file PATH"),
        (["--peer-secret-file", "/nonexistent/peer-secret"], "does not exist"),
        (["--peer-secret-file", "SHORT"], "at least 16 characters"),
        (["--peer-auth", "none", "--peer-secret-file", "SECRET"], "contradict"),
    ],
    ids=["none-given", "missing-file", "too-short", "contradiction"],
)
def test_discovery_refuses_to_start_without_a_usable_peer_secret(
    flags: list[str], says: str, tmp_path: Path
) -> None:
    (tmp_path / "short").write_text("abc\n")
    flags = [
        {"SHORT": str(tmp_path / "short"), "SECRET": str(peer_secret_file(tmp_path))}.get(f, f)
        for f in flags
    ]
    done = subprocess.run(
        [DOME, "discovery", "--data-dir", str(tmp_path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "DOME_PEER_SECRET_FILE"},
    )
    assert done.returncode == 2, done.stderr
    assert says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_peer_authentication_is_off_only_when_asked_and_then_says_so(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [DOME, "discovery", "--data-dir", str(tmp_path), "--ready-file", str(ready),
         "--peer-auth", "none", "--metrics-port", "-1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, 30, "the ready file")
        assert proc.poll() is None, "discovery with --peer-auth none did not start"
    finally:
        stop_process(proc, signal.SIGTERM, 15)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    assert "peer authentication is off" in out, out


async def test_spread_failover_and_restart_with_epochs_that_keep_rising(tmp_path: Path) -> None:
    port = free_port()
    args = ["--port", str(port), "--metrics-port", "0", "--engines-expected", "3"]
    discovery = DiscoveryProcess(tmp_path, *args)
    info = discovery.wait_ready()
    assert info["role"] == "discovery"
    assert info["address"] == f"127.0.0.1:{port}"
    assert info["pid"] == discovery.proc.pid
    address = info["address"]
    engines = {f"e{i}": FakeEngine(address, f"e{i}") for i in range(3)}
    channel = grpc.aio.insecure_channel(address)
    stub: Any = pb_grpc.DiscoveryServiceStub(channel)
    watched: list[pb.Placement] = []

    async def watch() -> None:
        async for placement in stub.WatchPlacement(pb.WatchPlacementRequest()):
            watched.append(placement)

    watcher = asyncio.create_task(watch())
    running = set(engines)
    try:
        await asyncio.gather(*(e.agent.start() for e in engines.values()))
        await eventually(
            lambda: (
                set(engines["e1"].primaries()) == DEFAULT_SYMBOLS
                and "" not in engines["e1"].primaries().values()
            ),
            10,
            "the first placement",
        )
        first = engines["e1"].primaries()
        counts = sorted(list(first.values()).count(e) for e in engines)
        assert counts == [1, 1, 2], first

        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.Heartbeat(
                pb.HeartbeatRequest(engine_id="ghost", incarnation="x"), metadata=PEER.metadata
            )
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

        # A primary goes silent: an election opens and a survivor is named within ~2 s.
        victim = first["BTC-USD"]
        lost = {s for s, p in first.items() if p == victim}
        before = engines["e1" if victim != "e1" else "e2"].epochs()
        await engines[victim].agent.stop()
        running.discard(victim)
        observer = engines[sorted(running)[0]]
        stopped = time.monotonic()
        await eventually(
            lambda: all(observer.primaries()[s] in running for s in lost), 5, "a new primary"
        )
        assert time.monotonic() - stopped < 2.5
        assert all(observer.epochs()[s] == before[s] + 1 for s in lost)
        await eventually(
            lambda: any(s.symbol in lost and s.primary == "" for p in watched for s in p.symbols),
            5,
            "the open election on the watch stream",
        )
        versions = [p.version for p in watched]
        assert versions == sorted(versions)

        # kill -9 and restart on the same store: epochs continue above the old ones.
        old_epochs = observer.epochs()
        assert discovery.stop(signal.SIGKILL) == -signal.SIGKILL
        # Unanswered heartbeats fence the engines within one lease period.
        await eventually(
            lambda: not any(engines[e].agent.lease_valid() for e in running), 2, "fencing"
        )
        discovery = DiscoveryProcess(tmp_path, *args)
        discovery.wait_ready()
        second = sorted(running)[0]
        await eventually(
            lambda: all(engines[e].agent.lease_valid() for e in running), 10, "re-registration"
        )
        # Re-registered is not yet settled: wait until every symbol has a primary again.
        await eventually(
            lambda: all(observer.primaries().values()), 10, "placement settled after restart"
        )
        after_restart = observer.primaries()
        victim2 = second
        lost2 = {s for s, p in after_restart.items() if p == victim2}
        assert lost2, f"{victim2} leads nothing: {after_restart}"
        await engines[victim2].agent.stop()
        running.discard(victim2)
        (last,) = running
        await eventually(
            lambda: set(engines[last].primaries().values()) == {last}, 10, "the last engine"
        )
        epochs = engines[last].epochs()
        for symbol, epoch in old_epochs.items():
            assert epoch <= epochs[symbol]
            if symbol in lost2:
                assert epochs[symbol] == epoch + 1, (symbol, old_epochs, epochs)
            else:
                # Its primary re-registered in time and kept its role at the same epoch.
                assert epochs[symbol] == epoch, (symbol, old_epochs, epochs)
        stored = json.loads((tmp_path / "discovery-placement.json").read_text())["symbols"]
        assert {s: r["epoch"] for s, r in stored.items()} == epochs
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await asyncio.gather(*(engines[e].agent.stop() for e in running))
        await channel.close(None)
        assert discovery.stop() == 0, discovery.log()
