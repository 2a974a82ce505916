"""``dome bench book|engine|cluster|failover|flood|fix|soak``: the benchmarks, JSON out.

The benchmarks themselves live in ``dome.bench``; they are imported only when asked for,
so the rest of the CLI starts fast and works where benchmark extras are missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def register(sub: Any) -> None:
    """Add every ``dome bench`` subcommand (book, engine, cluster, failover, flood, fix, soak)."""
    bench = sub.add_parser("bench", help="benchmarks")
    kinds = bench.add_subparsers(
        dest="bench", required=True, metavar="{book,engine,cluster,failover,flood,fix,soak}"
    )
    p = kinds.add_parser("book", help="order book throughput and latency")
    p.add_argument("--workload", choices=("A", "B"), default="A")
    p.add_argument("--ops", type=int, default=200_000, help="operations per run")
    p.add_argument("--vs", choices=("liquibook",), help="also run a reference engine")
    p.add_argument(
        "--core",
        choices=("native", "python"),
        help="one DOME core only (default: both side by side, native where it is built)",
    )
    p.add_argument(
        "--batch", type=int, default=500, help="commands per apply_batch call (default: 500)"
    )
    p.add_argument("--repeats", type=int, default=5, help="runs per implementation (median)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=_book)
    e = kinds.add_parser("engine", help="one engine process's order throughput, verified")
    e.add_argument("--symbols", type=int, default=4, help="symbols traded")
    e.add_argument("--duration", type=float, default=5.0, help="seconds of load")
    e.add_argument("--rate", type=float, help="orders/s in total, open loop (default: closed)")
    e.add_argument("--batch", type=int, default=100, help="orders per OrderBatch")
    e.add_argument("--clients", type=int, default=2, help="load processes (2 streams each)")
    e.add_argument("--seed", type=int, default=1)
    e.add_argument("--json", action="store_true", help="print the result as one JSON object")
    e.set_defaults(func=_engine)
    c = kinds.add_parser(
        "cluster", help="a replicated cluster's order throughput; every replica audited"
    )
    c.add_argument("--engines", type=int, default=3, help="engine processes (default: 3)")
    c.add_argument("--symbols", type=int, default=4, help="symbols traded")
    c.add_argument("--duration", type=float, default=5.0, help="seconds of load")
    c.add_argument("--rate", type=float, help="orders/s in total, open loop (default: closed)")
    c.add_argument("--batch", type=int, default=100, help="orders per OrderBatch")
    c.add_argument("--clients", type=int, default=2, help="load processes")
    c.add_argument("--acks", choices=("all", "majority"), help="(default: discovery's)")
    c.add_argument("--fsync", choices=("always", "batch", "none"), help="(default: engines')")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--json", action="store_true", help="print the result as one JSON object")
    c.set_defaults(func=_cluster)
    f = kinds.add_parser(
        "failover", help="kill -9 primaries under load: time to a new primary and to acks again"
    )
    f.add_argument("--engines", type=int, default=3, help="engine processes (default: 3)")
    f.add_argument("--symbols", type=int, default=2, help="symbols traded (default: 2)")
    f.add_argument("--kills", type=int, default=5, help="primaries killed, one at a time")
    f.add_argument("--rate", type=float, default=200.0, help="orders/s per symbol (default: 200)")
    f.add_argument("--acks", choices=("all", "majority"), help="(default: discovery's)")
    f.add_argument("--json", action="store_true", help="print the result as one JSON object")
    f.set_defaults(func=_failover)
    fl = kinds.add_parser(
        "flood", help="one account floods: how much does another account's p99 rise?"
    )
    fl.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    fl.add_argument("--quiet-rate", type=float, default=100.0, help="the quiet account's orders/s")
    fl.add_argument("--batch", type=int, default=100, help="orders per flood OrderBatch")
    fl.add_argument(
        "--rate-limit", type=float, help="engine's per-account limit (default: the engine's)"
    )
    fl.add_argument("--fsync", choices=("always", "batch", "none"), help="(default: engine's)")
    fl.add_argument("--json", action="store_true", help="print the result as one JSON object")
    fl.set_defaults(func=_flood)
    fx = kinds.add_parser(
        "fix", help="orders/s and ack latency through one FIX session, beside the SDK's"
    )
    fx.add_argument("--orders", type=int, default=2000, help="orders per run (default: 2000)")
    fx.add_argument("--window", type=int, default=32, help="orders in flight (default: 32)")
    fx.add_argument("--engines", type=int, default=3, help="engine processes (default: 3)")
    fx.add_argument("--json", action="store_true", help="print the result as one JSON object")
    fx.set_defaults(func=_fix)
    so = kinds.add_parser(
        "soak", help="load, bots and kill -9 for a long time: nothing lost, memory and disk bounded"
    )
    so.add_argument("--duration", type=float, default=600.0, help="seconds (default: 600)")
    so.add_argument("--rate", type=float, default=5000.0, help="orders/s in all (default: 5000)")
    so.add_argument(
        "--kill-every", type=float, default=120.0, help="seconds between kills (default: 120)"
    )
    so.add_argument("--bots", type=int, default=3, help="simulated bots (default: 3)")
    so.add_argument("--clients", type=int, default=2, help="load processes (default: 2)")
    so.add_argument("--batch", type=int, default=100, help="orders per SDK call")
    so.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples")
    so.add_argument(
        "--snapshot-every", type=int, help="engines' entries between snapshots (default: theirs)"
    )
    so.add_argument(
        "--segment-bytes", type=int, default=1024 * 1024, help="journal segment size (1 MiB)"
    )
    so.add_argument(
        "--dedup-window", type=int, help="engines' client order ids remembered (default: theirs)"
    )
    so.add_argument("--seed", type=int, default=1)
    so.add_argument("--out", help="write samples.csv, soak.png and result.json here")
    so.add_argument("--json", action="store_true", help="print the result as one JSON object")
    so.set_defaults(func=_soak)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, default=str), flush=True)
    else:
        print(json.dumps(result, indent=2, default=str))


#: Exit codes of a bench that could not run: bad arguments, or a process that failed.
_USAGE_EXIT = 2
_FAILED_EXIT = 1


def _run(bench: Callable[[], dict[str, Any]], as_json: bool) -> dict[str, Any] | int:
    """Run a process-level bench and print its result, or the exit code (said on
    stderr) when it could not run: 2 for a usage error (``ValueError``), else 1."""
    from dome.local.supervisor import ClusterError

    try:
        result = bench()
    except ValueError as exc:
        print(f"dome: error: {exc}", file=sys.stderr)
        return _USAGE_EXIT
    except (ClusterError, RuntimeError) as exc:  # a process did not run, or no failover
        print(f"dome: bench failed: {exc}", file=sys.stderr)
        return _FAILED_EXIT
    _print(result, as_json)
    return result


def _engine(args: argparse.Namespace) -> int:
    from dome.bench.engine import run_engine_bench

    result = _run(
        lambda: run_engine_bench(
            symbols=args.symbols,
            duration=args.duration,
            rate=args.rate,
            batch=args.batch,
            clients=args.clients,
            seed=args.seed,
            progress=_progress,
        ),
        args.json,
    )
    if isinstance(result, int):
        return result
    return 0 if result["verified"] else 1


def _cluster(args: argparse.Namespace) -> int:
    """Exit 0 when no acknowledged order was lost or repeated and the replicas agree."""
    from dome.bench.cluster import run_cluster_bench

    result = _run(
        lambda: run_cluster_bench(
            engines=args.engines,
            symbols=args.symbols,
            duration=args.duration,
            rate=args.rate,
            batch=args.batch,
            clients=args.clients,
            acks=args.acks,
            fsync=args.fsync,
            seed=args.seed,
            progress=_progress,
        ),
        args.json,
    )
    if isinstance(result, int):
        return result
    sound = result["verified"] and result["consistent"] and not result["lost"]
    return 0 if sound and not result["duplicates"] else 1


def _failover(args: argparse.Namespace) -> int:
    """Exit 0 when no acknowledged order was lost and the replicas agree."""
    from dome.bench.failover import run_failover_bench

    result = _run(
        lambda: run_failover_bench(
            engines=args.engines,
            symbols=args.symbols,
            kills=args.kills,
            acks=args.acks,
            rate=args.rate,
            progress=_progress,
        ),
        args.json,
    )
    if isinstance(result, int):
        return result
    return 0 if result["consistent"] and not result["lost"] else 1


def _flood(args: argparse.Namespace) -> int:
    """Exit 0 when the quiet account's p99 under the flood stays within 2x of alone."""
    from dome.bench.flood import run_flood_bench

    result = _run(
        lambda: run_flood_bench(
            duration=args.duration,
            quiet_rate=args.quiet_rate,
            batch=args.batch,
            rate_limit=args.rate_limit,
            fsync=args.fsync,
            progress=_progress,
        ),
        args.json,
    )
    if isinstance(result, int):
        return result
    return 0 if result["within_2x"] else 1


def _fix(args: argparse.Namespace) -> int:
    """Exit 0 when every order was acknowledged exactly once, through FIX and the SDK."""
    from dome.bench.fix import run_fix_bench

    result = _run(
        lambda: run_fix_bench(
            orders=args.orders, window=args.window, engines=args.engines, progress=_progress
        ),
        args.json,
    )
    if isinstance(result, int):
        return result
    return 0 if result["consistent"] else 1


def _soak(args: argparse.Namespace) -> int:
    """Exit 0 when nothing acknowledged was lost or booked twice, the replicas agree and
    every process's memory, open files and disk stayed within their bounds."""
    from pathlib import Path

    from dome.bench.soak import run_soak_bench

    result = _run(
        lambda: run_soak_bench(
            duration=args.duration,
            rate=args.rate,
            kill_every=args.kill_every,
            bots=args.bots,
            clients=args.clients,
            batch=args.batch,
            sample_every=args.sample_every,
            snapshot_every=args.snapshot_every,
            segment_bytes=args.segment_bytes,
            dedup_window=args.dedup_window,
            seed=args.seed,
            out=Path(args.out) if args.out else None,
            progress=_progress,
        ),
        args.json,
    )
    if isinstance(result, int):
        return result
    sound = result["consistent"] and not result["lost"] and not result["duplicates"]
    return 0 if sound and result["audited"] and result["bounds"]["held"] else 1


def _book(args: argparse.Namespace) -> int:
    if args.ops < 1 or args.repeats < 1 or args.batch < 1:
        print("dome: error: --ops, --repeats and --batch must be positive", file=sys.stderr)
        return 2
    from dome.bench.book import run_book_bench

    try:
        result = run_book_bench(
            workload=args.workload,
            ops=args.ops,
            vs=args.vs,
            repeats=args.repeats,
            seed=args.seed,
            progress=_progress,
            core=args.core,
            batch=args.batch,
        )
    except (ValueError, RuntimeError) as exc:  # unknown peer, core or peer missing, disagreement
        print(f"dome: bench failed: {exc}", file=sys.stderr)
        return 1
    _print(result, args.json)
    return 0
