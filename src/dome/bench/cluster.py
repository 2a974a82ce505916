"""Cluster throughput: orders/s a replicated cluster acknowledges, and did every replica keep them.

Discovery and N engines run as real processes (as under ``dome up``), each symbol with
its primary and followers from discovery; the load comes from separate processes
(``dome.bench.load``), each symbol's flow sent straight to its primary as placement
says. An acknowledgement then means the configured acks were met (``all`` or
``majority``), which is what this measures: sequencing, matching, journaling and
replicating, at the fsync policy asked for.

After the run, every acknowledged order is looked up in every replica's journal
(``FetchLog``, decoded with ``dome.log.entries``): ``lost`` counts acknowledged orders
missing (or different) on at least one replica; ``duplicates`` counts client order ids
that some replica's log holds twice. ``consistent`` is ``dome check``'s verdict once
the followers have caught up: one state hash per sequence number, every replica at the
same one. The primaries' books are also checked as ``dome bench engine`` checks its
engine (``verified``).

Engines run with snapshots far apart so each journal still holds the whole run.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from dome.accounts import write_accounts
from dome.bench.engine import (
    READY_DEADLINE_S,
    REPORT_DEADLINE_S,
    _book_states,
    _cpu_seconds,
    _load_config,
    _read_line,
    _spawn_loader,
    bench_instruments,
    summarize,
)
from dome.core.commands import NewOrder
from dome.files import write_json
from dome.instrument_spec import InstrumentSpec
from dome.local.check import run_check
from dome.local.placement import fetch_placement
from dome.local.supervisor import (
    START_DEADLINE_S,
    LocalCluster,
    LocalProcess,
    start_cluster,
    start_engine,
)
from dome.log.entries import decode_batch
from dome.peer_auth import PeerAuth
from dome.v1 import replication_pb2 as rp
from dome.v1 import replication_pb2_grpc as rp_grpc

#: How long followers may take, after the load, to stand where their primary stands.
CONVERGE_DEADLINE_S = 60.0
#: Entries between snapshots in the bench: above any run's length, so journals stay whole.
SNAPSHOT_EVERY = 1_000_000_000
_SIDES = ("buy", "sell")
_RPC_TIMEOUT = 30.0


def run_cluster_bench(
    *,
    engines: int = 3,
    symbols: int = 4,
    duration: float = 5.0,
    rate: float | None = None,
    batch: int = 100,
    clients: int = 1,
    window: int = 2,
    acks: str | None = None,
    fsync: str | None = None,
    seed: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run a cluster under load; ``{"orders_per_sec", ..., "lost", "consistent"}``."""
    if min(engines, symbols, batch, clients, window) < 1 or duration <= 0:
        raise ValueError("engines, symbols, duration, batch, clients and window must be positive")
    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive")
    settings = {"duration": duration, "rate": rate, "batch": batch, "window": window,
                "seed": seed, "record": True}  # fmt: skip
    return asyncio.run(
        _run(engines, bench_instruments(symbols), clients, settings, acks, fsync, progress)
    )


async def _run(
    engines: int,
    specs: list[InstrumentSpec],
    clients: int,
    settings: dict[str, Any],
    acks: str | None,
    fsync: str | None,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    tokens = {
        f"load-{k}-{side}": secrets.token_hex(16) for k in range(1, clients + 1) for side in _SIDES
    }
    async with bench_cluster(
        engines, specs, tokens, acks=acks, fsync=fsync, progress=progress
    ) as bench:
        return await _measure(bench.cluster, specs, clients, tokens, settings, progress)


@dataclass
class BenchCluster:
    """A benchmark's cluster, its data directory, and how to bring a killed engine back."""

    cluster: LocalCluster
    data: Path
    #: Every engine's extra options, as the cluster started them (restarts reuse them).
    engine_args: tuple[str, ...]

    def engine(self, engine_id: str) -> LocalProcess:
        return next(e for e in self.cluster.engines if e.name == engine_id)

    async def kill_engine(self, engine_id: str) -> None:
        """SIGKILL ``engine_id`` (no shutdown code runs) and reap it."""
        proc = self.engine(engine_id).proc
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()

    async def restart_engine(
        self, engine_id: str, start_deadline: float = START_DEADLINE_S
    ) -> LocalProcess:
        """Start ``engine_id`` again on its data directory; ready once registered."""
        index = self.cluster.engines.index(self.engine(engine_id))
        process = await start_engine(
            engine_id,
            instruments=self.data / "instruments.json",
            accounts=self.data / "accounts.json",
            data_dir=self.data,
            discovery=self.cluster.discovery_address,
            peer_secret_file=self.cluster.peer_secret_file,
            extra_args=self.engine_args,
            start_deadline=start_deadline,
        )
        self.cluster.engines[index] = process
        return process


@contextlib.asynccontextmanager
async def bench_cluster(
    engines: int,
    specs: list[InstrumentSpec],
    tokens: dict[str, str],
    *,
    acks: str | None,
    fsync: str | None,
    progress: Callable[[str], None],
) -> AsyncIterator[BenchCluster]:
    """Discovery and ``engines`` engines trading ``specs`` for the accounts in ``tokens``,
    in a temporary directory, as every cluster benchmark runs them; stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="dome-bench-cluster-") as tmp:
        data = Path(tmp)
        write_json(data / "instruments.json", [s.to_dict() for s in specs])
        write_accounts(data / "accounts.json", tokens)
        engine_args = (
            *(("--fsync", fsync) if fsync else ()),
            # The per-account limit protects a shared exchange; here it would cap the load.
            *("--rate-limit", "1e12", "--log-level", "warning"),
            *("--snapshot-every", str(SNAPSHOT_EVERY)),
        )
        progress(f"starting discovery and {engines} engine(s), {len(specs)} symbol(s)")
        cluster = await start_cluster(
            engines,
            data_dir=data,
            instruments=data / "instruments.json",
            accounts=data / "accounts.json",
            symbols=[s.symbol for s in specs],
            acks=acks,
            engine_args=engine_args,
            discovery_args=("--log-level", "warning"),
        )
        try:
            yield BenchCluster(cluster, data, engine_args)
        finally:
            await cluster.stop()


async def _measure(
    cluster: LocalCluster,
    specs: list[InstrumentSpec],
    clients: int,
    tokens: dict[str, str],
    settings: dict[str, Any],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    discovery = cluster.discovery_address
    assert discovery is not None
    placement = await fetch_placement(discovery, rpc_timeout=_RPC_TIMEOUT)
    addresses = {e["id"]: e["address"] for e in placement["engines"]}
    names = [s.symbol for s in specs]
    led: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        led.setdefault(addresses[placement["symbols"][name]["primary"]], []).append(index)
    routes: list[dict[str, Any]] = [
        {"target": target, "symbols": symbols} for target, symbols in led.items()
    ]
    for name in names:
        s = placement["symbols"][name]
        progress(f"{name}: primary {s['primary']}, followers {', '.join(s['followers']) or '-'}")
    pids = {str(p.info["id"] or p.info["role"]): int(p.info["pid"]) for p in cluster.processes}
    cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
    loads, load_cpu = await _load(clients, specs, tokens, settings, routes, progress)
    cpu = {name: _cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    progress("load done; waiting for every replica to stand at its primary's sequence number")
    check = await run_check(discovery, rpc_timeout=_RPC_TIMEOUT, wait=CONVERGE_DEADLINE_S)
    # Each symbol's book from its primary, as `dome bench engine` checks its one engine.
    books = {}
    for route in routes:
        mine = [specs[i] for i in route["symbols"]]
        books.update(await _book_states(route["target"], mine, tokens))
    result, problems = summarize(loads, books)
    assert cluster.peer_secret_file is not None  # start_cluster made one
    # Reading journals is a peer's call (FetchLog): the audit presents the peer secret.
    peer = PeerAuth.from_file(cluster.peer_secret_file).metadata
    # Journals are read where replication is served: the peer port, when there is one.
    peer_addresses = {e["id"]: e["peer_address"] or e["address"] for e in placement["engines"]}
    audit = await audit_replicas(placement, peer_addresses, loads, peer)
    problems += audit.pop("problems")
    progress(f"audited {audit['audited']} (order, replica) pairs: {audit['lost']} lost, "
             f"{audit['duplicates']} repeated")  # fmt: skip
    for problem in problems:
        progress(f"verification failed: {problem}")
    # The figure noise moves least: CPU of every process (cluster and load) per order.
    cpu["load"] = load_cpu
    total_cpu = sum(cpu.values())
    cpu_us = (
        total_cpu / result["acked"] * 1e6 if result["acked"] and min(cpu.values()) >= 0 else None
    )
    if cpu_us is not None:
        progress(f"CPU {total_cpu:.2f}s over every process for {result['acked']} orders: "
                 f"{cpu_us:.1f} us/order")  # fmt: skip
    return {
        **result,
        **audit,
        "cpu_us_per_order": round(cpu_us, 2) if cpu_us is not None else None,
        "cpu_s": {name: round(seconds, 3) for name, seconds in sorted(cpu.items())},
        "consistent": check["consistent"] and check["converged"],
        "verified": not problems,
        "engines": len(cluster.engines),
        "symbols": len(specs),
        "replication_factor": placement["replication_factor"],
        "acks": placement["acks"],
        "mode": f"open loop at {settings['rate']:g}/s" if settings["rate"] else "closed loop",
    }


async def _load(
    clients: int,
    specs: list[InstrumentSpec],
    tokens: dict[str, str],
    settings: dict[str, Any],
    routes: list[dict[str, Any]],
    progress: Callable[[str], None],
) -> tuple[list[dict[str, Any]], float]:
    """Each load process's report, and the CPU seconds the load processes used."""
    loaders: list[asyncio.subprocess.Process] = []
    try:
        for k in range(1, clients + 1):
            config = _load_config(k, clients, routes[0]["target"], specs, tokens, settings)
            loaders.append(await _spawn_loader({**config, "routes": routes}))
        for proc in loaders:
            await _read_line(proc, READY_DEADLINE_S)
        mode = f"open loop at {settings['rate']:g} orders/s" if settings["rate"] else "closed loop"
        progress(f"running {settings['duration']:g}s, {mode}, batches of {settings['batch']}")
        for proc in loaders:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        deadline = settings["duration"] + REPORT_DEADLINE_S
        reports = [await _read_line(proc, deadline) for proc in loaders]
        return reports, sum(float(report.get("cpu_s", -1.0)) for report in reports)
    finally:
        for proc in loaders:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def fetch_orders(
    address: str, symbol: str, peer: tuple[tuple[str, str], ...], from_seq: int = 1
) -> tuple[dict[int, tuple[int, str, str]], int]:
    """New orders in ``symbol``'s journal at ``address`` from ``from_seq`` on: by seq (order
    id, account, client order id), and the journal's last sequence number. ``peer``: the
    peer credential."""
    options = [("grpc.max_receive_message_length", 256 * 1024 * 1024)]
    orders: dict[int, tuple[int, str, str]] = {}
    last = 0
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        stub = rp_grpc.ReplicationServiceStub(channel)
        request = rp.FetchLogRequest(symbol=symbol, from_seq=from_seq)
        call = stub.FetchLog(request, timeout=_RPC_TIMEOUT, metadata=peer)
        async for answer in call:
            for raw in answer.batches:
                batch = decode_batch(raw)
                last = max(last, batch.last_seq)
                for cmd in batch.commands:
                    if isinstance(cmd, NewOrder):
                        orders[cmd.seq] = (cmd.order_id, cmd.account, cmd.client_order_id)
    return orders, last


#: A replica's journal as the audit reads it: new orders by seq (order id, account, client
#: order id), and the last sequence number.
ReplicaOrders = tuple[dict[int, tuple[int, str, str]], int]


async def audit_replicas(
    placement: dict[str, Any],
    addresses: dict[str, str],
    loads: list[dict[str, Any]],
    peer: tuple[tuple[str, str], ...],
) -> dict[str, Any]:
    """Fetch every replica's journal and ``audit`` the acknowledged orders against them."""
    wanted = [
        (symbol, engine)
        for symbol, placed in placement["symbols"].items()
        for engine in [placed["primary"], *placed["followers"]]
    ]
    fetched = await asyncio.gather(
        *(fetch_orders(addresses[engine], symbol, peer) for symbol, engine in wanted)
    )
    return audit(placement, dict(zip(wanted, fetched, strict=True)), loads)


def audit(
    placement: dict[str, Any],
    journals: dict[tuple[str, str], ReplicaOrders],
    loads: list[dict[str, Any]],
) -> dict[str, Any]:
    """Every acknowledged order on every replica: ``{"lost", "duplicates", "problems"}``.

    ``lost``: acknowledged orders missing, or another order at their sequence number, on
    at least one replica. ``duplicates``: per symbol, the most times any replica's log
    repeats an (account, client order id), summed over symbols.
    """
    lost = duplicates = audited = 0
    problems: list[str] = []
    for symbol, placed in placement["symbols"].items():
        acked = [order for load in loads for order in load["orders"].get(symbol, [])]
        audited += len(acked) * (1 + len(placed["followers"]))
        missing: set[int] = set()
        repeated = 0
        for engine in [placed["primary"], *placed["followers"]]:
            orders, last = journals[(symbol, engine)]
            for seq, order_id, client_order_id in acked:
                found = orders.get(seq)
                if found is None or (found[0], found[2]) != (order_id, client_order_id):
                    missing.add(seq)
            twice = Counter((account, coid) for _, account, coid in orders.values())
            extra = sum(n - 1 for n in twice.values() if n > 1)
            if extra:
                problems.append(f"{symbol}: {engine}'s journal holds {extra} repeated order(s)")
            repeated = max(repeated, extra)
            if acked and last < max(seq for seq, _, _ in acked):
                problems.append(f"{symbol}: {engine}'s journal ends at {last}")
        if missing:
            problems.append(f"{symbol}: {len(missing)} acknowledged order(s) missing on a replica")
        lost += len(missing)
        duplicates += repeated
    return {"lost": lost, "duplicates": duplicates, "audited": audited, "problems": problems}
