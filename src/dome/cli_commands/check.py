"""``dome check``: do the replicas of every symbol agree?

Determinism (DESIGN.md section 2) promises that replicas at the same sequence number
have the same ``state_hash``; this command checks that promise on a running cluster. It
reads placement from discovery, asks every engine holding a replica for its status
(``GetReplicaStatus``) and compares, per symbol, the hashes of replicas at equal applied
sequence numbers. Replicas at different sequence numbers are not comparable (one may
just be behind), so ``--wait S`` polls until they all stand at the same one, which is
what to ask after a load stops. An engine that cannot be reached is listed as such; it
makes nothing inconsistent on its own.

Exit codes: 0 consistent, 1 discovery unreachable, 2 usage, 3 two replicas of a symbol
disagree at the same sequence number (``EXIT_INCONSISTENT``), 4 ``--wait`` expired
before every symbol's replicas stood at one sequence number (``EXIT_NOT_CONVERGED``).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from dome.cli_commands import render
from dome.cli_commands.common import UsageError, fail, load_tls, print_json
from dome.cli_commands.placement import add_discovery_arguments, resolve_discovery
from dome.local.check import run_check
from dome.local.placement import PlacementUnavailable

EXIT_INCONSISTENT = 3
EXIT_NOT_CONVERGED = 4


def register(sub: Any) -> None:
    """Add ``dome check`` to the ``dome`` parser."""
    p = sub.add_parser("check", help="compare the replicas of every symbol (state hashes)")
    add_discovery_arguments(p)
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="S",
        help="poll up to S seconds until each symbol's replicas stand at one sequence number",
    )
    p.set_defaults(func=_check)


def check_table(result: dict[str, Any]) -> str:
    rows = []
    for symbol, s in result["symbols"].items():
        for r in s["replicas"]:
            if not r["reachable"]:
                rows.append([symbol, r["engine"], r["role"], "-", "-", "-", "-", "UNREACHABLE"])
                continue
            rows.append(
                [
                    symbol,
                    r["engine"],
                    r["role"],
                    str(r["epoch"]),
                    str(r["seq"]),
                    str(r["journaled_seq"]),
                    str(r["committed_seq"]),
                    (r["state_hash"] or "-")[:16],
                ]
            )
    header = ["symbol", "engine", "role", "epoch", "seq", "journaled", "committed", "state_hash"]
    bad = [s for s, v in result["symbols"].items() if not v["consistent"]]
    verdict = "consistent" if not bad else f"INCONSISTENT: {', '.join(bad)}"
    if not result["converged"]:
        verdict += " (some replicas are behind; --wait S waits for them)"
    return render.table(rows, header) + "\n\n" + verdict


def _check(args: argparse.Namespace) -> int:
    if args.wait < 0:
        return fail("error: --wait must not be negative", 2)
    try:
        address = resolve_discovery(args)
    except UsageError as exc:
        return fail(f"error: {exc}", 2)
    try:
        result = asyncio.run(
            run_check(address, rpc_timeout=args.timeout, wait=args.wait, tls=load_tls(args))
        )
    except PlacementUnavailable as exc:
        return fail(f"cannot reach discovery at {address}: {exc}", 1)
    if args.json:
        print_json(result)
    else:
        print(check_table(result))
    if not result["consistent"]:
        return EXIT_INCONSISTENT
    if args.wait and not result["converged"]:
        return EXIT_NOT_CONVERGED
    return 0
