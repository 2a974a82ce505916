"""``dome placement``: which engine leads which symbol, as discovery publishes it.

Discovery is the one authority on placement, so this asks it (``GetPlacement``) rather
than the engines. Its address comes from ``--discovery``, else from the ``cluster.json``
that ``dome up`` writes. The plain-data form built here (``placement_json``) is what
``dome check``, the live view and ``dome bench cluster`` read too.

Exit codes: 0 shown, 1 discovery unreachable, 2 no discovery to ask.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from dome.cli_commands import render
from dome.cli_commands.common import (
    DEFAULT_DIR,
    DEFAULT_TIMEOUT,
    UsageError,
    add_tls_argument,
    fail,
    load_tls,
    print_json,
)
from dome.local.placement import (
    PlacementUnavailable,
    discovery_from_cluster,
    fetch_placement,
)


def register(sub: Any) -> None:
    """Add ``dome placement`` to the ``dome`` parser."""
    p = sub.add_parser("placement", help="show which engine leads which symbol")
    add_discovery_arguments(p)
    p.set_defaults(func=_placement)


def add_discovery_arguments(parser: argparse.ArgumentParser) -> None:
    """``--discovery``, ``--data-dir``, ``--timeout`` and ``--json``."""
    parser.add_argument(
        "--discovery",
        help="discovery HOST:PORT (default: $DOME_DISCOVERY, else DATA_DIR/cluster.json)",
    )
    parser.add_argument(
        "--data-dir", default=str(DEFAULT_DIR), help="where `dome up` keeps its state (./.dome)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds to wait for an answer (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_tls_argument(parser)


def resolve_discovery(args: argparse.Namespace) -> str:
    """Discovery's address: flag, then environment, then the local cluster file."""
    address = (
        args.discovery or os.environ.get("DOME_DISCOVERY") or discovery_from_cluster(args.data_dir)
    )
    if not address:
        raise UsageError(
            f"no discovery: pass --discovery HOST:PORT, or run `dome up` (no discovery in "
            f"{Path(args.data_dir) / 'cluster.json'})"
        )
    return str(address)


def placement_table(doc: dict[str, Any]) -> str:
    """Symbols (epoch, primary, followers, seq), then engines (address, alive)."""
    rows = [
        [
            symbol,
            str(s["epoch"]),
            s["primary"] or "(election)",
            ",".join(s["followers"]) or "-",
            ",".join(s["in_sync"]) or "-",
            str(s["seq"]),
        ]
        for symbol, s in doc["symbols"].items()
    ]
    header = ["symbol", "epoch", "primary", "followers", "in_sync", "seq"]
    engines = [[e["id"], e["address"], "alive" if e["alive"] else "DEAD"] for e in doc["engines"]]
    settings = f"replication factor {doc['replication_factor']}, acks {doc['acks'] or '-'}"
    return "\n".join(
        [
            render.table(rows, header),
            "",
            render.table(engines, ["engine", "address", "lease"]),
            "",
            settings,
        ]
    )


def _placement(args: argparse.Namespace) -> int:
    import asyncio

    try:
        address = resolve_discovery(args)
    except UsageError as exc:
        return fail(f"error: {exc}", 2)
    try:
        doc = asyncio.run(fetch_placement(address, rpc_timeout=args.timeout, tls=load_tls(args)))
    except PlacementUnavailable as exc:
        return fail(f"cannot reach discovery at {address}: {exc}", 1)
    if args.json:
        print_json(doc)
    else:
        print(placement_table(doc))
    return 0
