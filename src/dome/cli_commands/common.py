"""What every client command shares: where to connect, as whom, and how failures look.

The exit-code contract is the CLI's promise to scripts: 0 when the call completed (an
exchange reject is a completed call), 2 for usage errors, 1 when the exchange could not
be reached or refused the credentials, always with one line on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from dome.client.errors import AuthError, DomeError, PermissionDeniedError, UnavailableError
from dome.client.local import NoLocalExchange, local_target
from dome.local.placement import PlacementUnavailable, discovery_from_cluster, fetch_placement_sync
from dome.tls import TlsFiles, TlsFilesError

#: Where ``dome up`` writes its state by default; client commands look there for a target.
DEFAULT_DIR = Path(".dome")
#: How long a client command may wait for the exchange, in seconds, unless told otherwise.
DEFAULT_TIMEOUT = 5.0
#: How long a client command asks discovery where a symbol lives before trying an engine.
PLACEMENT_TIMEOUT = 2.0


class UsageError(Exception):
    """The command line is incomplete in a way argparse cannot see (exit 2)."""


def add_connection_arguments(parser: argparse.ArgumentParser, *, token: bool) -> None:
    """``--target``, ``--data-dir``, ``--timeout`` and (for account commands) ``--token``."""
    parser.add_argument(
        "--target",
        help="engine HOST:PORT (default: $DOME_TARGET, else the cluster in DATA_DIR/cluster.json)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where `dome up` keeps its state (default: $DOME_DATA_DIR, else ./.dome)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds to wait for the exchange before giving up (default: %(default)s)",
    )
    if token:
        parser.add_argument("--token", help="account bearer token (default: $DOME_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_tls_argument(parser)


def add_tls_argument(parser: argparse.ArgumentParser) -> None:
    """``--tls-dir``: dial with TLS, presenting this client certificate (mutual TLS)."""
    parser.add_argument(
        "--tls-dir",
        help="directory with tls.crt, tls.key and ca.crt: connect over (mutual) TLS "
        "(default: $DOME_TLS_DIR; none: plaintext)",
    )


def load_tls(args: argparse.Namespace) -> TlsFiles | None:
    """The TLS files of ``--tls-dir`` / ``$DOME_TLS_DIR``; ``UsageError`` if unreadable."""
    directory = getattr(args, "tls_dir", None) or os.environ.get("DOME_TLS_DIR")
    if not directory:
        return None
    try:
        return TlsFiles.from_dir(Path(directory))
    except TlsFilesError as exc:
        raise UsageError(str(exc)) from None


def resolve_target(args: argparse.Namespace) -> str:
    """The engine to talk to: flag, then environment, then the local cluster file.

    With a cluster (``cluster.json`` names discovery), a command about one symbol goes
    to that symbol's primary, and any other to a live engine; when discovery does not
    answer, the first engine listed serves (engines forward to primaries themselves).
    """
    if args.target:
        return str(args.target)
    if os.environ.get("DOME_TARGET"):
        return os.environ["DOME_TARGET"]
    data_dir = resolve_data_dir(args)
    cluster = data_dir / "cluster.json"
    if cluster.exists():
        try:
            first = local_target(data_dir)
        except NoLocalExchange:
            raise UsageError(f"{cluster} names no engine; pass --target") from None
        symbol = getattr(args, "symbol", None)
        return cluster_target(data_dir, symbol, args.timeout, load_tls(args)) or first
    raise UsageError(
        f"no target: pass --target HOST:PORT, set DOME_TARGET, or run `dome up` (no {cluster})"
    )


def resolve_data_dir(args: argparse.Namespace) -> Path:
    """``--data-dir``, then ``$DOME_DATA_DIR``, then ``./.dome``."""
    given = getattr(args, "data_dir", None) or os.environ.get("DOME_DATA_DIR")
    return Path(given) if given else DEFAULT_DIR


def cluster_target(
    data_dir: Path, symbol: str | None, timeout: float, tls: TlsFiles | None = None
) -> str | None:
    """The primary of ``symbol`` (else a live engine) per discovery; None without an answer."""
    discovery = discovery_from_cluster(data_dir)
    if discovery is None:
        return None
    try:
        placement = fetch_placement_sync(
            discovery, timeout=min(timeout, PLACEMENT_TIMEOUT), tls=tls
        )
    except PlacementUnavailable:
        return None
    alive = {e["id"]: e["address"] for e in placement["engines"] if e["alive"]}
    primary = placement["symbols"].get(symbol, {}).get("primary") if symbol else None
    if primary in alive:
        return str(alive[primary])
    return next(iter(alive.values()), None)


def resolve_token(args: argparse.Namespace) -> str:
    """The account token: flag, then environment. Never guessed from accounts files."""
    token = getattr(args, "token", None) or os.environ.get("DOME_TOKEN")
    if not token:
        raise UsageError("this command needs an account: pass --token or set DOME_TOKEN")
    return str(token)


def print_json(value: Any) -> None:
    print(json.dumps(value), flush=True)


def fail(message: str, code: int) -> int:
    print(f"dome: {message}", file=sys.stderr, flush=True)
    return code


def run_command(
    args: argparse.Namespace, command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
) -> int:
    """Run an async command and turn every expected failure into an exit code."""
    try:
        return asyncio.run(command(args))
    except UsageError as exc:
        return fail(f"error: {exc}", 2)
    except UnavailableError as exc:
        target = getattr(args, "resolved_target", None) or "the exchange"
        return fail(f"cannot reach {target}: {exc}", 1)
    except (AuthError, PermissionDeniedError) as exc:
        return fail(f"not authorised: {exc}", 1)
    except DomeError as exc:
        return fail(str(exc), 1)
    except KeyboardInterrupt:
        return 130
