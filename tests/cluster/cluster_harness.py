"""A real cluster for fault tests: one discovery and N engine processes on loopback.

Processes are started the way ``dome up`` and Kubernetes start them (``dome discovery``,
``dome engine --discovery ... --data-dir ...``), stopped with SIGTERM or killed with
SIGKILL, and restarted on the same data directory and port. Every process gets the
cluster's peer secret (``--peer-secret-file``, a fresh random one per cluster), as
``dome up`` and the operator give it. Everything a test waits for is a condition with a
deadline.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from dome.files import write_text
from dome.peer_auth import PeerAuth
from dome.v1 import discovery_pb2 as ds
from dome.v1 import discovery_pb2_grpc as ds_grpc
from dome.v1 import replication_pb2 as rp
from dome.v1 import replication_pb2_grpc as rp_grpc
from processes import stop_process
from waiting import wait_for

ACCOUNTS = {"alice": "token-alice", "bob": "token-bob"}
DOME = str(Path(sys.executable).with_name("dome"))


@dataclass
class Proc:
    """One process of the cluster."""

    name: str
    args: list[str]
    log_path: Path
    ready_file: Path
    popen: subprocess.Popen[bytes] | None = None
    info: dict[str, object] = field(default_factory=dict)
    #: Environment this process always starts with (on top of the test's own).
    env: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 30.0, env: dict[str, str] | None = None) -> None:
        self.ready_file.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.args, stdout=log, stderr=log, env={**os.environ, **self.env, **(env or {})}
        )
        log.close()

        def ready() -> dict[str, object] | None:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.popen.returncode}:\n{self.log()}")
            try:
                return dict(json.loads(self.ready_file.read_text()))
            except (FileNotFoundError, json.JSONDecodeError):
                return None

        self.info = wait_for(ready, timeout, f"{self.name} ready")

    @property
    def address(self) -> str:
        return str(self.info["address"])

    @property
    def peer_address(self) -> str:
        """Where an engine serves replication: its peer port, else its client address."""
        return str(self.info.get("peer") or self.info["address"])

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen is not None:
            stop_process(self.popen, signal.SIGTERM, timeout)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return ""


class Cluster:
    """Discovery plus engines ``engine-0`` .. ``engine-{n-1}`` in ``directory``."""

    def __init__(
        self,
        directory: Path,
        engines: int = 3,
        *,
        symbols: tuple[str, ...] = ("AAA-USD", "BBB-USD"),
        acks: str = "all",
        fsync: str = "batch",
        snapshot_every: int = 50_000,
        segment_bytes: int = 64 * 1024 * 1024,
        netns: Callable[[int], list[str]] | None = None,
        engine_host: Callable[[int], str] | None = None,
        discovery_host: str = "127.0.0.1",
        tls_dir: Path | None = None,
        health_ports: bool = False,
        discovery_args: tuple[str, ...] = (),
        peer_ports: bool = False,
        engine_command: Callable[[int], list[str]] | None = None,
    ) -> None:
        """``peer_ports``: engines serve replication on a peer port of their own;
        ``engine_command(i)``: what runs engine ``i`` instead of ``dome`` (another
        version's code, say), without ``--peer-port``."""
        self.directory = directory
        self.symbols = symbols
        directory.mkdir(parents=True, exist_ok=True)
        self.instruments = directory / "instruments.json"
        self.instruments.write_text(
            json.dumps(
                [
                    {
                        "symbol": s,
                        "tick_size": "0.01",
                        "lot_size": "1",
                        "min_qty": "1",
                        "max_qty": "1000000",
                    }
                    for s in symbols
                ]
            )
        )
        self.tls_dir = tls_dir
        tls_args = ["--tls-dir", str(tls_dir)] if tls_dir else []
        #: The cluster's own peer secret; ``peer.metadata`` authenticates a call as a peer.
        self.peer = PeerAuth(secrets.token_urlsafe(32))
        self.peer_secret_file = directory / "peer-secret"
        write_text(self.peer_secret_file, f"{self.peer.secret}\n", private=True)
        tls_args += ["--peer-secret-file", str(self.peer_secret_file)]
        if health_ports:
            # The probes' plaintext health port (dome.health), a free one each.
            tls_args += ["--health-port", "0"]
        self.accounts = directory / "accounts.json"
        self.accounts.write_text(json.dumps(ACCOUNTS))
        self.discovery = Proc(
            "discovery",
            [
                DOME,
                "discovery",
                "--host",
                discovery_host,
                "--port",
                "0",
                "--metrics-port",
                "-1",
                "--data-dir",
                str(directory / "discovery"),
                "--engines-expected",
                str(engines),
                "--replication-factor",
                str(min(3, engines)),
                "--acks",
                acks,
                "--instruments",
                str(self.instruments),
                "--ready-file",
                str(directory / "discovery.ready"),
                *tls_args,
                *discovery_args,
            ],
            directory / "discovery.log",
            directory / "discovery.ready",
        )
        # Known once discovery is up (port 0: no race for a port picked in advance).
        self.discovery_address = ""
        self.engines: list[Proc] = []
        for i in range(engines):
            host = engine_host(i) if engine_host else "127.0.0.1"
            prefix = netns(i) if netns else []
            command = engine_command(i) if engine_command else [DOME]
            peer_args = ["--peer-port", "0"] if peer_ports and command == [DOME] else []
            self.engines.append(
                Proc(
                    f"engine-{i}",
                    [
                        *prefix,
                        *command,
                        "engine",
                        "--id",
                        f"engine-{i}",
                        "--host",
                        host,
                        "--port",
                        "0",
                        "--metrics-port",
                        "-1",
                        "--discovery",
                        "DISCOVERY",
                        "--data-dir",
                        str(directory / f"engine-{i}"),
                        "--instruments",
                        str(self.instruments),
                        "--accounts",
                        str(self.accounts),
                        "--fsync",
                        fsync,
                        "--snapshot-every",
                        str(snapshot_every),
                        "--segment-bytes",
                        str(segment_bytes),
                        "--ready-file",
                        str(directory / f"engine-{i}.ready"),
                        *tls_args,
                        *peer_args,
                    ],
                    directory / f"engine-{i}.log",
                    directory / f"engine-{i}.ready",
                )
            )
        self._channels: dict[str, grpc.Channel] = {}

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self.discovery.start()
        self.discovery_address = self.discovery.address
        for engine in self.engines:
            engine.args[engine.args.index("DISCOVERY")] = self.discovery_address
        for engine in self.engines:
            engine.popen = None
        # Engines register before their ready file appears, so start them together.
        for engine in self.engines:
            engine.ready_file.unlink(missing_ok=True)
        for engine in self.engines:
            engine.start()
        self.wait_placed()

    def stop(self) -> None:
        for engine in self.engines:
            engine.stop()
        self.discovery.stop()
        for channel in self._channels.values():
            channel.close()

    def engine(self, engine_id: str) -> Proc:
        return self.engines[int(engine_id.rsplit("-", 1)[1])]

    def logs(self) -> str:
        parts = [f"--- {p.name}\n{p.log()}" for p in [self.discovery, *self.engines]]
        return "\n".join(parts)

    # -------------------------------------------------------------------- views

    def channel(self, address: str) -> grpc.Channel:
        channel = self._channels.get(address)
        if channel is None:
            if self.tls_dir is None:
                channel = grpc.insecure_channel(address)
            else:
                credentials = grpc.ssl_channel_credentials(
                    (self.tls_dir / "ca.crt").read_bytes(),
                    (self.tls_dir / "tls.key").read_bytes(),
                    (self.tls_dir / "tls.crt").read_bytes(),
                )
                channel = grpc.secure_channel(address, credentials)
            self._channels[address] = channel
        return channel

    def placement(self) -> ds.Placement:
        stub = ds_grpc.DiscoveryServiceStub(self.channel(self.discovery_address))
        return stub.GetPlacement(ds.GetPlacementRequest(), timeout=5)

    def symbol_placement(self, symbol: str) -> ds.SymbolPlacement:
        for sp in self.placement().symbols:
            if sp.symbol == symbol:
                return sp
        raise AssertionError(f"{symbol} not in placement")

    def primary(self, symbol: str) -> str:
        return self.symbol_placement(symbol).primary

    def wait_placed(self, timeout: float = 20.0) -> ds.Placement:
        """Until every symbol has a primary whose engine reports it writable."""

        def placed() -> ds.Placement | None:
            try:
                placement = self.placement()
            except grpc.RpcError:
                return None
            if len(placement.symbols) != len(self.symbols):
                return None
            for sp in placement.symbols:
                if not sp.primary:
                    return None
                status = self.status(sp.primary)
                if status is None:
                    return None
                replica = status.get(sp.symbol)
                if replica is None or replica.role != rp.REPLICA_ROLE_PRIMARY:
                    return None
                if replica.epoch != sp.epoch:
                    return None
            return placement

        return wait_for(placed, timeout, "every symbol placed with a serving primary")

    def address_of(self, engine_id: str) -> str:
        return self.engine(engine_id).address

    def status(self, engine_id: str) -> dict[str, rp.ReplicaStatus] | None:
        """``GetReplicaStatus`` of one engine by symbol; None when it does not answer."""
        proc = self.engine(engine_id)
        if not proc.alive() or not proc.info:
            return None
        stub = rp_grpc.ReplicationServiceStub(self.channel(proc.address))
        try:
            reply = stub.GetReplicaStatus(rp.GetReplicaStatusRequest(), timeout=3)
        except grpc.RpcError:
            return None
        return {r.symbol: r for r in reply.replicas}

    def journal(self, engine_id: str, symbol: str, from_seq: int = 1) -> list[bytes]:
        """``engine_id``'s journal of ``symbol`` from ``from_seq``, batch by batch (FetchLog)."""
        stub = rp_grpc.ReplicationServiceStub(self.channel(self.engine(engine_id).peer_address))
        request = rp.FetchLogRequest(symbol=symbol, from_seq=from_seq)
        batches: list[bytes] = []
        for part in stub.FetchLog(request, timeout=10, metadata=self.peer.metadata):
            batches.extend(part.batches)
        return batches

    def converged(self, symbol: str, engines: list[str] | None = None) -> dict[str, str] | None:
        """state_hash by engine when every (alive) replica applied the same seq."""
        ids = engines or [e.name for e in self.engines if e.alive()]
        seen: dict[str, tuple[int, str]] = {}
        for engine_id in ids:
            status = self.status(engine_id)
            if status is None or symbol not in status:
                return None
            r = status[symbol]
            seen[engine_id] = (r.applied_seq, r.state_hash)
        if len({seq for seq, _ in seen.values()}) != 1:
            return None
        return {e: h for e, (_, h) in seen.items()}


@contextmanager
def running_cluster(directory: Path, engines: int = 3, **kw: object) -> Iterator[Cluster]:
    """A started cluster, stopped (and its logs printed on failure) afterwards."""
    cluster = Cluster(directory, engines, **kw)  # type: ignore[arg-type]
    try:
        cluster.start()
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
