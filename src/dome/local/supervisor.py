"""Local exchange processes for ``dome up`` and the benchmarks: start, know when they serve, stop.

Every process announces itself by writing a ready file (address, pid, metrics URL) once
it serves, so callers wait on that fact with a deadline rather than on a guess. An
engine in cluster mode writes it only after registering with discovery, and discovery
places symbols only once the expected engines registered, so the engines of a cluster
start together, and a cluster counts as up when every symbol has a primary.

Discovery and the engines of one cluster share a peer secret (``dome.peer_auth``):
``start_cluster`` generates it into ``DATA_DIR/peer-secret`` (owner-only) unless one is
there, and hands every process its path, so nothing outside the cluster can register as
an engine or pull a journal.

Processes run in their own session: Ctrl-C reaches ``dome up`` alone, which then stops
the engines (which hold the clients) before discovery (which they heartbeat to). If the
process that started them is killed outright, they get SIGTERM from the kernel
(``dome.lifetime``) rather than run on as orphans.

While a cluster runs, a ``Supervisor`` keeps its engines running as a local
orchestrator would: an engine that exits is started again with the same id, data
directory and options (it recovers from its journal and rejoins as a follower), after a
backoff that doubles with each recent restart, and is left down if it keeps crashing.
Discovery exiting is fatal: nothing could place symbols any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dome.lifetime import child_environment
from dome.local.placement import PlacementUnavailable, fetch_placement
from dome.peer_auth import ensure_secret_file

#: How long a process may take from spawn to serving.
START_DEADLINE_S = 30.0
#: How long discovery may take, once the engines serve, to give every symbol a primary.
PLACEMENT_DEADLINE_S = 30.0
#: How long a process may take to stop after SIGTERM before it is killed.
STOP_DEADLINE_S = 10.0
#: The file, in the data directory, holding a local cluster's peer secret.
PEER_SECRET_FILE = "peer-secret"
#: Keys of a ``cluster.json`` entry (``core``: an engine's book core, empty for discovery;
#: ``peer``: an engine's peer port, where the others replicate from it).
RECORD_KEYS = ("role", "id", "address", "pid", "metrics", "core", "peer")


class ClusterError(Exception):
    """A process did not come up; the message says which and where its log is."""


@dataclass
class LocalProcess:
    """One spawned process and what it announced in its ready file."""

    proc: asyncio.subprocess.Process
    info: dict[str, Any]
    log_path: Path
    name: str = ""
    #: The command line and ready file it was started with (``respawn`` reuses them).
    argv: tuple[str, ...] = ()
    ready: Path | None = None

    async def wait_exit(self) -> None:
        """Return when the process has exited (for watching it while it should run)."""
        await self.proc.wait()

    async def stop(self) -> int:
        """SIGTERM, wait with a deadline, then SIGKILL; returns the exit code."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                return await asyncio.wait_for(self.proc.wait(), STOP_DEADLINE_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
        return await self.proc.wait()

    def record(self) -> dict[str, Any]:
        """This process's ``cluster.json`` entry."""
        return {k: self.info.get(k) for k in RECORD_KEYS}


@dataclass
class LocalCluster:
    """Discovery (absent for a standalone engine) and the engines, as started."""

    discovery: LocalProcess | None
    engines: list[LocalProcess] = field(default_factory=list)
    #: The peer secret every process of the cluster was given (None: a standalone engine).
    peer_secret_file: Path | None = None

    @property
    def processes(self) -> list[LocalProcess]:
        return ([self.discovery] if self.discovery else []) + self.engines

    @property
    def discovery_address(self) -> str | None:
        return str(self.discovery.info["address"]) if self.discovery else None

    def record(self) -> dict[str, Any]:
        """``cluster.json``: what runs where, in the ready files' own words."""
        return {"processes": [p.record() for p in self.processes]}

    def cores(self) -> str:
        """The engines' book cores as their ready files say: ``native``, ``python`` or a mix
        (``native+python``)."""
        return "+".join(sorted({str(e.info.get("core") or "?") for e in self.engines})) or "-"

    def replace(self, old: LocalProcess, new: LocalProcess) -> None:
        """Put ``new`` (a restart of ``old``) in ``old``'s place among the engines."""
        self.engines[self.engines.index(old)] = new

    def exited(self) -> list[LocalProcess]:
        return [p for p in self.processes if p.proc.returncode is not None]

    async def wait_any_exit(self) -> None:
        """Return as soon as any process of the cluster has exited."""
        tasks = [asyncio.create_task(p.wait_exit()) for p in self.processes]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()

    async def stop(self) -> None:
        """Engines first (together), then discovery."""
        await asyncio.gather(*(e.stop() for e in self.engines))
        if self.discovery is not None:
            await self.discovery.stop()


async def start_cluster(
    engines: int,
    *,
    data_dir: Path,
    instruments: Path,
    accounts: Path,
    symbols: Sequence[str],
    replication_factor: int | None = None,
    acks: str | None = None,
    fsync: str | None = None,
    engine_args: Sequence[str] = (),
    discovery_args: Sequence[str] = (),
) -> LocalCluster:
    """Start discovery and ``engines`` engines, and wait until every symbol has a primary.

    Engine ``k`` is ``engine-k`` with its data in ``DATA_DIR/engine-k``; discovery keeps
    its own in ``DATA_DIR/discovery``. On any failure everything started is stopped.
    """
    if engines < 1:
        raise ValueError("a cluster needs at least one engine")
    factor = replication_factor or min(3, engines)
    d_args = ["--engines-expected", str(engines), "--replication-factor", str(factor),
              # Every engine is coming (or the start fails): wait for all of them rather
              # than place every symbol on the first to register on a slow machine.
              "--startup-grace", str(START_DEADLINE_S)]  # fmt: skip
    if acks:
        d_args += ["--acks", acks]
    secret = ensure_secret_file(data_dir / PEER_SECRET_FILE)
    discovery = await start_discovery(
        data_dir=data_dir,
        instruments=instruments,
        peer_secret_file=secret,
        extra_args=[*d_args, *discovery_args],
    )
    cluster = LocalCluster(discovery, peer_secret_file=secret)
    e_args = [*(["--fsync", fsync] if fsync else []), *engine_args]
    try:
        started = await asyncio.gather(
            *(
                start_engine(
                    f"engine-{k}",
                    instruments=instruments,
                    accounts=accounts,
                    data_dir=data_dir,
                    discovery=cluster.discovery_address,
                    peer_secret_file=secret,
                    extra_args=e_args,
                )
                for k in range(engines)
            ),
            return_exceptions=True,
        )
        cluster.engines = [p for p in started if isinstance(p, LocalProcess)]
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        await wait_placed(cluster, symbols)
    except BaseException:
        await cluster.stop()
        raise
    return cluster


async def wait_placed(cluster: LocalCluster, symbols: Sequence[str]) -> None:
    """Wait until discovery names a primary for each of ``symbols``, with a deadline."""
    discovery = cluster.discovery
    assert discovery is not None
    address = str(discovery.info["address"])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PLACEMENT_DEADLINE_S
    missing: list[str] = list(symbols)
    while loop.time() < deadline:
        if gone := cluster.exited():
            p = gone[0]
            raise ClusterError(f"{p.name} exited with {p.proc.returncode}; see {p.log_path}")
        with contextlib.suppress(PlacementUnavailable):
            placed = (await fetch_placement(address, rpc_timeout=2.0))["symbols"]
            missing = [s for s in symbols if not placed.get(s, {}).get("primary")]
            if not missing:
                return
        await asyncio.sleep(0.05)
    raise ClusterError(
        f"discovery gave no primary to {', '.join(missing)} within {PLACEMENT_DEADLINE_S:.0f}s;"
        f" see {discovery.log_path}"
    )


async def start_discovery(
    *,
    data_dir: Path,
    instruments: Path,
    peer_secret_file: Path | None = None,
    extra_args: Sequence[str] = (),
) -> LocalProcess:
    """Spawn ``dome discovery`` and wait until its ready file says it serves.

    Without ``peer_secret_file`` ``extra_args`` must say how peers authenticate.
    """
    ready = data_dir / "discovery.ready.json"
    argv = [
        sys.executable,
        "-m",
        "dome.cli",
        "discovery",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--metrics-port",
        "0",
        "--data-dir",
        str(data_dir / "discovery"),
        "--instruments",
        str(instruments),
        "--ready-file",
        str(ready),
        *(["--peer-secret-file", str(peer_secret_file)] if peer_secret_file else []),
        *extra_args,
    ]
    return await _spawn("discovery", argv, ready, data_dir / "discovery.log")


async def start_engine(
    engine_id: str,
    *,
    instruments: Path,
    accounts: Path,
    data_dir: Path,
    discovery: str | None = None,
    peer_secret_file: Path | None = None,
    extra_args: Sequence[str] = (),
    start_deadline: float = START_DEADLINE_S,
) -> LocalProcess:
    """Spawn ``python -m dome.engine`` and wait until its ready file says it serves.

    With ``discovery`` the engine joins that cluster (and is ready once registered),
    proving itself with the cluster's ``peer_secret_file``;
    ``extra_args`` are more engine options (the benchmarks lift the rate limit).
    ``start_deadline``: how long it may take (recovering a large journal takes longer).
    """
    ready = data_dir / f"{engine_id}.ready.json"
    argv = [
        sys.executable,
        "-m",
        "dome.engine",
        "--id",
        engine_id,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--metrics-port",
        "0",
        "--instruments",
        str(instruments),
        "--accounts",
        str(accounts),
        "--data-dir",
        str(data_dir / engine_id),
        "--ready-file",
        str(ready),
        *(["--discovery", discovery] if discovery else []),
        # Replication on a port of its own, as on Kubernetes (dome.engine.peer_port).
        *(["--peer-port", "0"] if discovery else []),
        *(["--peer-secret-file", str(peer_secret_file)] if peer_secret_file else []),
        *extra_args,
    ]
    return await _spawn(engine_id, argv, ready, data_dir / f"{engine_id}.log", start_deadline)


def _prepare(ready: Path) -> None:
    ready.parent.mkdir(parents=True, exist_ok=True)
    ready.unlink(missing_ok=True)


async def respawn(process: LocalProcess) -> LocalProcess:
    """Start ``process``'s command again (same id, data, options) and wait until it serves.

    It binds new ports (``--port 0``), so its address is in the returned process's info.
    """
    if not process.argv or process.ready is None:
        raise ValueError(f"{process.name}: not started by this module, cannot restart it")
    return await _spawn(process.name, list(process.argv), process.ready, process.log_path)


async def _spawn(
    name: str, argv: list[str], ready: Path, log_path: Path, within: float = START_DEADLINE_S
) -> LocalProcess:
    _prepare(ready)
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=child_environment(),  # it stops if we are killed (dome.lifetime)
        )
    process = LocalProcess(proc, {}, log_path, name, tuple(argv), ready)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    try:
        while loop.time() < deadline:
            if proc.returncode is not None:
                raise ClusterError(f"{name} exited with {proc.returncode}; see {log_path}")
            info = _read_ready(ready)
            if info is not None:
                process.info = info
                return process
            await asyncio.sleep(0.05)
    except BaseException:
        await process.stop()
        raise
    await process.stop()
    raise ClusterError(f"{name} did not serve within {within:.0f}s; see {log_path}")


def _read_ready(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # not there yet, or half written
    return info if isinstance(info, dict) and info.get("address") else None


def cluster_record(processes: list[LocalProcess]) -> dict[str, Any]:
    """``cluster.json`` for a list of processes."""
    return {"processes": [p.record() for p in processes]}


@dataclass(frozen=True)
class RestartPolicy:
    """When ``Supervisor`` restarts an engine that exited, and when it gives up."""

    #: Pause before the first restart; it doubles with each restart still in the window.
    first_delay: float = 0.5
    max_delay: float = 10.0
    #: Restarts allowed within ``window`` seconds; an exit beyond that leaves it down.
    max_restarts: int = 5
    window: float = 60.0

    def delay(self, recent: int) -> float:
        """The pause before a restart that follows ``recent`` restarts in the window."""
        return float(min(self.first_delay * 2**recent, self.max_delay))


class Supervisor:
    """Keeps a cluster's engines running while ``run`` runs (cancel it before stopping).

    An engine that exits is started again (``respawn``) after ``policy``'s backoff;
    ``on_restart`` is called with each engine that is back, ``log`` with one line per
    event. An engine that exits more often than the policy allows stays down (listed in
    ``given_up``). ``run`` returns, with the reason, when something is fatal: discovery
    exited, or no engine is left.
    """

    def __init__(
        self,
        cluster: LocalCluster,
        *,
        log: Callable[[str], None],
        on_restart: Callable[[LocalProcess], None] | None = None,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.cluster = cluster
        self.policy = policy or RestartPolicy()
        self.log = log
        self.on_restart = on_restart
        self.given_up: list[str] = []
        #: Why ``run`` ended; None while it runs (or if it was cancelled).
        self.reason: str | None = None
        self._fatal = asyncio.Event()

    async def wait_fatal(self) -> None:
        """Return once ``run`` has found something fatal."""
        await self._fatal.wait()

    async def run(self) -> str:
        """Supervise until something is fatal; returns the reason (the caller stops all)."""
        keepers = [asyncio.create_task(self._keep(e.name)) for e in self.cluster.engines]
        watchers: list[asyncio.Task[None]] = list(keepers)
        discovery = self.cluster.discovery
        if discovery is not None:
            watchers.append(asyncio.create_task(discovery.wait_exit()))
        try:
            pending = set(watchers)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if (exc := task.exception()) is not None:
                        return self._end(f"supervising the cluster failed: {exc!r}")
                if discovery is not None and discovery.proc.returncode is not None:
                    return self._end(
                        f"discovery exited with {discovery.proc.returncode}; "
                        f"see {discovery.log_path}"
                    )
                if all(k.done() for k in keepers):
                    return self._end("every engine kept crashing; see their logs")
            return self._end("nothing left to supervise")
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

    def _end(self, reason: str) -> str:
        self.reason = reason
        self._fatal.set()
        return reason

    def _engine(self, name: str) -> LocalProcess:
        return next(e for e in self.cluster.engines if e.name == name)

    async def _keep(self, name: str) -> None:
        """Restart engine ``name`` whenever it exits; return when giving up on it."""
        loop = asyncio.get_running_loop()
        policy = self.policy
        restarts: deque[float] = deque()
        alone = len(self.cluster.engines) == 1
        while True:
            current = self._engine(name)
            code = await current.proc.wait()
            what = f"exited with {code}"
            while True:
                now = loop.time()
                while restarts and now - restarts[0] > policy.window:
                    restarts.popleft()
                if len(restarts) >= policy.max_restarts:
                    self.given_up.append(name)
                    self.log(
                        f"{name} {what} after {len(restarts)} restarts within "
                        f"{policy.window:g}s; leaving it down (see {current.log_path})"
                    )
                    return
                delay = policy.delay(len(restarts))
                effect = "its symbols wait for it" if alone else "the cluster keeps trading"
                self.log(f"{name} {what}; restarting it in {delay:g}s ({effect})")
                await asyncio.sleep(delay)
                restarts.append(loop.time())
                try:
                    new = await respawn(current)
                except (ClusterError, OSError) as exc:
                    what = f"did not come back ({exc})"
                    continue
                break
            self.cluster.replace(current, new)
            info = new.record()
            self.log(f"{name} is back at {info['address']} (pid {info['pid']})")
            if self.on_restart is not None:
                self.on_restart(new)
