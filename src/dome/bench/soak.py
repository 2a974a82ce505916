"""A soak: a cluster under load and bots for a long time, an engine killed now and then.

The cluster is the one ``dome up --engines 3`` starts (``start_cluster``: discovery and
three engine processes, replication factor 3, discovery's default acks, journals with
group-commit fsync, snapshots every ``snapshot_every`` entries and compaction after
each), trading ``dome up``'s four instruments. On it, for ``duration`` seconds:

* load processes (``dome.bench.soak_load``) send ``rate`` orders/s in all through the
  SDK, which routes and retries through failovers; a batch it gives up on is counted as
  not acknowledged, never as lost;
* ``dome simulate`` runs ``bots`` bots (market maker, random trader, momentum taker)
  through discovery, as ``dome up --simulate`` would;
* every ``kill_every`` seconds a random engine gets SIGKILL and is started again on its
  data directory (``BenchCluster.kill_engine``/``restart_engine``);
* every ``sample_every`` seconds each process's RSS, open files and CPU, and each
  engine's journal and snapshot bytes, are sampled (``dome.bench.soak_samples``).

Afterwards: ``consistent`` is ``dome check``'s verdict once the followers caught up;
every acknowledged order that every replica's journal still holds is looked up in
every replica (``dome.bench.cluster.audit``): ``lost`` counts those missing or
different. Compaction deletes older history, so only the tail is audited (``audited``
says how many (order, replica) pairs, ``not_audited`` how many acknowledged orders were
already compacted away). A retry after a lost answer puts the order in the journal
twice, and the engine answers the second as a duplicate of the first; ``duplicates``
counts only repeats the engine would have booked as a second order: more than
``dedup_window`` new orders after the first (the idempotency window had forgotten it).

Bounded, and why these bounds (``soak_samples.bounds``: the last quarter's peak at most
1.5x the second quarter's; open files 1.5x plus 16). An engine's state per symbol is,
once warm: the book, kept small by the load (buyers and sellers cross, so its own
orders never rest long) and the bots (which cancel and replace); the idempotency window,
a FIFO of ``dedup_window`` (100,000) client order ids per symbol, full after that many
orders; the reports kept for streams (bounded by the engine). Its disk per symbol: at
most two snapshots (the store keeps two, each the book and the window: constant once
the window is full) and the journal from the older snapshot on: compaction after each
snapshot deletes every whole segment before it, so at most ``2 * snapshot_every``
entries plus the one segment that straddles it. None of these grows with the run's
length after warm-up (the first quarter: ten minutes at 5,000/s over four symbols fill
the window within 80 s and take a snapshot every 40 s). What does grow with time
(a leak, a book that piles up, a journal never compacted) grows linearly, and
linear growth from the start ends the run at twice its mid-run value, above 1.5x.

The one option that is not ``dome up``'s: journal segments of ``segment_bytes`` (1 MiB)
instead of the engine's 64 MiB. Compaction deletes whole segments only, and at these
rates a symbol journals well under 64 MiB in ten minutes, so with the default nothing
would ever be compacted and the disk check would only watch a journal grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from dome.accounts import write_accounts
from dome.bench.cluster import CONVERGE_DEADLINE_S, BenchCluster
from dome.bench.engine import READY_DEADLINE_S, _read_line, bench_instruments
from dome.bench.failover import REJOIN_DEADLINE_S, Placement, _all_in_sync
from dome.bench.soak_audit import audit_tail
from dome.bench.soak_samples import Sample, bounds, disk_bytes, plot, read_process, write_csv
from dome.engine.config import EngineConfig
from dome.files import write_json
from dome.instrument_spec import InstrumentSpec
from dome.lifetime import child_environment
from dome.local.check import run_check
from dome.local.supervisor import start_cluster
from dome.peer_auth import PeerAuth

#: Journal segment size of the soak's engines (see the module docstring).
SEGMENT_BYTES = 1024 * 1024
#: How long, past the run, the load may take to finish its calls (they retry 30 s).
LOAD_DRAIN_S = 90.0
#: How long a killed engine may take to serve again: it loads a snapshot per symbol
#: (each holding the whole idempotency window) and replays the journal after it, which
#: took 13 s a symbol on 2 loaded cores (more than ``start_engine``'s usual 30 s).
RESTART_DEADLINE_S = 240.0
#: How often a progress line is printed while the soak runs.
PROGRESS_EVERY_S = 30.0
_RPC_TIMEOUT = 30.0
_SIDES = ("buy", "sell")


def run_soak_bench(
    *,
    duration: float = 600.0,
    rate: float = 5000.0,
    kill_every: float = 120.0,
    bots: int = 3,
    clients: int = 2,
    batch: int = 100,
    sample_every: float = 5.0,
    snapshot_every: int | None = None,
    segment_bytes: int = SEGMENT_BYTES,
    dedup_window: int | None = None,
    seed: int = 1,
    out: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run the soak; ``{"lost", "duplicates", "consistent", "bounds", "kills", ...}``.

    With ``out``, ``samples.csv``, ``soak.png``, ``result.json`` and the processes' logs
    (``logs/``) are written there.
    """
    if min(duration, rate, kill_every, sample_every) <= 0 or min(clients, batch) < 1:
        raise ValueError("duration, rate, kill-every, sample-every, clients, batch: positive")
    if bots < 0:
        raise ValueError("bots must not be negative")
    defaults = EngineConfig()
    settings = Settings(duration, rate, kill_every, bots, clients, batch, sample_every,
                        snapshot_every or defaults.snapshot_every, segment_bytes,
                        dedup_window or defaults.dedup_window, seed)  # fmt: skip
    result = asyncio.run(_run(settings, out / "logs" if out else None, progress))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        samples: list[Sample] = result.pop("samples_list")
        write_csv(out / "samples.csv", samples)
        title = (f"dome bench soak: {duration:g}s, {rate:g} orders/s asked "
                 f"({result['acked_per_sec']:.0f}/s acknowledged), {bots} bot(s), "
                 f"kill -9 every {kill_every:g}s")  # fmt: skip
        plot(out / "soak.png", samples, [k["at"] for k in result["kills"]], title)
        write_json(out / "result.json", result)
    else:
        result.pop("samples_list")
    return result


@dataclass(frozen=True)
class Settings:
    duration: float
    rate: float
    kill_every: float
    bots: int
    clients: int
    batch: int
    sample_every: float
    snapshot_every: int
    segment_bytes: int
    dedup_window: int
    seed: int


@dataclass
class Run:
    """What the soak's tasks share while it runs."""

    bench: BenchCluster
    #: Role name -> process, for the sampler (engines are looked up afresh: restarts).
    helpers: dict[str, asyncio.subprocess.Process]
    start: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    kills: list[dict[str, Any]] = field(default_factory=list)

    def pids(self) -> dict[str, int]:
        cluster = self.bench.cluster
        pids = {e.name: e.proc.pid for e in cluster.engines if e.proc.returncode is None}
        if cluster.discovery is not None:
            pids["discovery"] = cluster.discovery.proc.pid
        pids.update({n: p.pid for n, p in self.helpers.items() if p.returncode is None})
        return pids


async def _run(
    settings: Settings, logs: Path | None, progress: Callable[[str], None]
) -> dict[str, Any]:
    specs = bench_instruments(4)  # dome up's four instruments
    tokens = {f"load-{k}-{side}": secrets.token_hex(16)
              for k in range(1, settings.clients + 1) for side in _SIDES}  # fmt: skip
    bot_tokens = {f"bot-{i}": secrets.token_hex(16) for i in range(1, settings.bots + 1)}
    with tempfile.TemporaryDirectory(prefix="dome-bench-soak-") as tmp:
        data = Path(tmp)
        write_json(data / "instruments.json", [s.to_dict() for s in specs])
        write_accounts(data / "accounts.json", {**tokens, **bot_tokens})
        write_json(data / "bot-tokens.json", bot_tokens, private=True)
        engine_args = ("--snapshot-every", str(settings.snapshot_every),
                       "--segment-bytes", str(settings.segment_bytes),
                       "--dedup-window", str(settings.dedup_window))  # fmt: skip
        progress(f"starting discovery and 3 engines (snapshot every {settings.snapshot_every} "
                 f"entries, {settings.segment_bytes} B segments, {settings.dedup_window} ids "
                 f"remembered per symbol) in {data}")  # fmt: skip
        cluster = await start_cluster(
            3,
            data_dir=data,
            instruments=data / "instruments.json",
            accounts=data / "accounts.json",
            symbols=[s.symbol for s in specs],
            engine_args=engine_args,
        )
        run = Run(BenchCluster(cluster, data, engine_args), {})
        try:
            return await _soak(run, settings, specs, tokens, progress)
        finally:
            for proc in run.helpers.values():
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            await cluster.stop()
            if logs is not None:  # the data directory goes; what the processes said stays
                _keep_logs(data, logs)


def _all_back(placement: dict[str, Any]) -> bool:
    """Every symbol on all three engines again, each in sync."""
    return _all_in_sync(placement) and all(
        len(s["followers"]) == 2 for s in placement["symbols"].values()
    )


def _keep_logs(data: Path, logs: Path) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    for log in data.glob("*.log"):
        shutil.copy(log, logs / log.name)


async def _soak(
    run: Run,
    settings: Settings,
    specs: list[InstrumentSpec],
    tokens: dict[str, str],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    cluster = run.bench.cluster
    discovery = cluster.discovery_address
    assert discovery is not None
    assert cluster.peer_secret_file is not None
    loaders = []
    for k in range(1, settings.clients + 1):
        config = {
            "name": f"soak{k}",
            "discovery": discovery,
            "symbols": [s.to_dict() for s in specs],
            "tokens": {side: tokens[f"load-{k}-{side}"] for side in _SIDES},
            "rate": settings.rate / settings.clients,
            "batch": settings.batch,
            "duration": settings.duration,
            # Enough for what the journals can still hold of one loop's orders.
            "keep": 3 * settings.snapshot_every,
            # Each call is a SubmitOrders stream, and an account (one per side) may hold
            # only so many open at once: within that, with room for one more.
            "max_in_flight": max(1, (EngineConfig().max_streams_per_account - 1) // len(specs)),
        }
        loaders.append(await _spawn(run, f"load-{k}", ["-m", "dome.bench.soak_load"], config))
    for proc in loaders:
        await _read_line(proc, READY_DEADLINE_S)
    if settings.bots:
        await _spawn(run, "bots", ["-m", "dome.cli", "simulate", "--discovery", discovery,
                                   "--accounts", str(run.bench.data / "bot-tokens.json"),
                                   "--bots", str(settings.bots), "--duration",
                                   str(settings.duration), "--seed", str(settings.seed),
                                   "--json"], None)  # fmt: skip
    progress(f"running {settings.duration:g}s: {settings.rate:g} orders/s from "
             f"{settings.clients} load process(es), {settings.bots} bot(s), an engine killed "
             f"every {settings.kill_every:g}s")  # fmt: skip
    run.start = time.monotonic()
    for proc in loaders:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    stop = asyncio.Event()
    background = [asyncio.create_task(_sample(run, settings, progress)),
                  asyncio.create_task(_kill(run, settings, stop, progress))]  # fmt: skip
    try:
        deadline = settings.duration + LOAD_DRAIN_S
        counts = [await _read_line(proc, deadline) for proc in loaders]
    finally:
        stop.set()  # no more kills; one under way finishes its restart
        await asyncio.gather(background[1], return_exceptions=True)
    bots = await _bots_result(run, progress)
    load = {key: sum(c[key] for c in counts) for key in counts[0] if key != "elapsed"}
    elapsed = max(c["elapsed"] for c in counts)
    progress(f"load done after {elapsed:.0f}s: {load['acked']} acknowledged "
             f"({load['acked'] / settings.duration:.0f}/s), {load['unacked']} not "
             f"acknowledged, {load['shed']} shed; waiting for the replicas")  # fmt: skip
    # The last engine killed may still be catching up: audit once every replica is back.
    async with grpc.aio.insecure_channel(discovery) as channel:
        placement = await Placement(channel).until(
            "every replica back and in sync", REJOIN_DEADLINE_S, _all_back
        )
    # Sampled until here: the last quarter includes the engine killed last, once it is back.
    background[0].cancel()
    await asyncio.gather(background[0], return_exceptions=True)
    check = await run_check(discovery, rpc_timeout=_RPC_TIMEOUT, wait=CONVERGE_DEADLINE_S)
    peer = PeerAuth.from_file(cluster.peer_secret_file).metadata
    verdict = await audit_tail(placement, loaders, peer, settings.dedup_window)
    verdict["not_audited"] = load["acked"] - verdict["audited_orders"]
    progress(f"audited {verdict['audited']} (order, replica) pairs: {verdict['lost']} lost, "
             f"{verdict['duplicates']} booked twice; {verdict['not_audited']} acknowledged "
             f"order(s) compacted before the audit")  # fmt: skip
    held = bounds(run.samples, settings.duration)
    for process, checks in held["processes"].items():
        for quantity, c in checks.items():
            if not c["ok"]:
                progress(f"bound failed: {process} {quantity}: {c}")
    return {
        "duration": settings.duration,
        "rate": settings.rate,
        "acked": load["acked"],
        "acked_per_sec": round(load["acked"] / settings.duration, 1),
        "load_elapsed_s": round(elapsed, 1),
        "load": load,
        "bots": bots,
        **verdict,
        "consistent": bool(check["consistent"] and check["converged"]),
        "kills": run.kills,
        "bounds": held,
        "processes": sorted({s.process for s in run.samples}),
        "samples": len(run.samples),
        "settings": {
            "snapshot_every": settings.snapshot_every,
            "segment_bytes": settings.segment_bytes,
            "dedup_window": settings.dedup_window,
            "kill_every": settings.kill_every,
            "sample_every": settings.sample_every,
            "clients": settings.clients,
            "batch": settings.batch,
            "seed": settings.seed,
        },
        "samples_list": run.samples,
    }


async def _spawn(
    run: Run, name: str, argv: list[str], config: dict[str, Any] | None
) -> asyncio.subprocess.Process:
    """Start ``python argv`` as ``name`` (stderr to its log in the data directory)."""
    with (run.bench.data / f"{name}.log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=log, limit=1 << 30,
            env=child_environment())  # it stops if we are killed  # fmt: skip
    run.helpers[name] = proc
    if config is not None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(config).encode() + b"\n")
        await proc.stdin.drain()
    return proc


async def _sample(run: Run, settings: Settings, progress: Callable[[str], None]) -> None:
    """Every ``sample_every`` s, every process; a progress line every ``PROGRESS_EVERY_S``."""
    said = 0.0
    while True:
        t = time.monotonic() - run.start
        now = []
        for name, pid in sorted(run.pids().items()):
            read = read_process(pid)
            if read is None:
                continue  # just killed
            disk = disk_bytes(run.bench.data / name) if name.startswith("engine-") else -1
            now.append(Sample(round(t, 2), name, pid, *read, disk))
        run.samples.extend(now)
        if t - said >= PROGRESS_EVERY_S:
            said = t
            engines = [s for s in now if s.process.startswith("engine-")]
            progress(f"t={t:.0f}s engines RSS "
                     f"{'/'.join(f'{s.rss_bytes / 2**20:.0f}' for s in engines)} MiB, fds "
                     f"{'/'.join(str(s.fds) for s in engines)}, disk "
                     f"{'/'.join(f'{s.disk_bytes / 2**20:.1f}' for s in engines)} MiB; "
                     f"{len(run.kills)} kill(s)")  # fmt: skip
        await asyncio.sleep(settings.sample_every)


async def _kill(
    run: Run, settings: Settings, stop: asyncio.Event, progress: Callable[[str], None]
) -> None:
    """Every ``kill_every`` s until ``stop``: SIGKILL a random engine, start it again."""
    rng = random.Random(settings.seed)
    k = 1
    while (due := run.start + k * settings.kill_every) < run.start + settings.duration:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(due - time.monotonic(), 0))
        if stop.is_set():
            return
        victim = rng.choice(sorted(e.name for e in run.bench.cluster.engines))
        at = time.monotonic() - run.start
        await run.bench.kill_engine(victim)
        await run.bench.restart_engine(victim, RESTART_DEADLINE_S)
        back = time.monotonic() - run.start
        run.kills.append(
            {"at": round(at, 2), "engine": victim, "back_after_s": round(back - at, 2)}
        )
        progress(f"t={at:.0f}s: kill -9 {victim}; serving again after {back - at:.1f}s")
        k += 1


async def _bots_result(run: Run, progress: Callable[[str], None]) -> dict[str, Any] | None:
    """``dome simulate``'s totals (it stops by itself at the end of the duration)."""
    proc = run.helpers.get("bots")
    if proc is None:
        return None
    assert proc.stdout is not None
    try:
        out = await asyncio.wait_for(proc.stdout.read(), LOAD_DRAIN_S)
        code = await proc.wait()
    except TimeoutError:
        raise RuntimeError("the bots did not stop at the end of the run") from None
    if code != 0:
        raise RuntimeError(f"the bots exited with {code}; see {run.bench.data / 'bots.log'}")
    lines = out.decode().strip().splitlines()
    totals: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    progress(f"bots: {totals}")
    return totals
