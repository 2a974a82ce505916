"""``make bench``: the book benchmark on both workloads, one JSON line each on stdout.

A thin wrapper over ``dome.bench.book.run_book_bench`` (the same code ``dome bench book``
runs) so the numbers in CI logs and on a laptop come from one implementation. Progress
goes to stderr, results to stdout, so ``python bench/book.py > results.jsonl`` works.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys

from dome.bench.book import WORKLOADS, run_book_bench


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000, help="operations per run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per engine")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-peer", action="store_true", help="skip liquibook even when it is installed"
    )
    args = parser.parse_args()
    peer = None
    if not args.no_peer:
        if importlib.util.find_spec("liquibook") is not None:
            peer = "liquibook"
        else:
            print("liquibook is not installed: DOME only", file=sys.stderr)
    for workload in WORKLOADS:
        result = run_book_bench(
            workload=workload,
            ops=args.ops,
            vs=peer,
            repeats=args.repeats,
            seed=args.seed,
            progress=lambda message: print(message, file=sys.stderr, flush=True),
        )
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
