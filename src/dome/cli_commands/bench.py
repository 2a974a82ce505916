"""``dome bench book``: the book benchmark from the command line, JSON out, progress to stderr.

The benchmark itself lives in ``dome.bench.book``; it is imported only when asked for, so
the rest of the CLI starts fast and works where benchmark extras are missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: Any) -> None:
    """Add ``dome bench book`` to the ``dome`` parser."""
    bench = sub.add_parser("bench", help="benchmarks")
    kinds = bench.add_subparsers(dest="bench", required=True, metavar="{book}")
    p = kinds.add_parser("book", help="order book throughput and latency")
    p.add_argument("--workload", choices=("A", "B"), default="A")
    p.add_argument("--ops", type=int, default=200_000, help="operations per run")
    p.add_argument("--vs", choices=("liquibook",), help="also run a reference engine")
    p.add_argument("--repeats", type=int, default=5, help="runs per implementation (median)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=_book)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _book(args: argparse.Namespace) -> int:
    if args.ops < 1 or args.repeats < 1:
        print("dome: error: --ops and --repeats must be positive", file=sys.stderr)
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
        )
    except (ValueError, RuntimeError) as exc:  # unknown peer, peer missing, engines disagree
        print(f"dome: bench failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, default=str), flush=True)
    else:
        print(json.dumps(result, indent=2, default=str))
    return 0
