"""``dome fix``: run the FIX 4.4 gateway, a client of the exchange through the SDK.

One FIX session per account of the accounts file: SenderCompID is the account's name,
Password (554) its bearer token. The gateway finds the exchange through discovery
(``--discovery``, else the local ``dome up``'s cluster file), or talks to one engine
(``--target``). Exit codes: 0 stopped by a signal, 1 the exchange or the port could not
be used, 2 a usage error.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dome.cli_commands.common import DEFAULT_DIR, add_tls_argument

if TYPE_CHECKING:
    from dome.local.supervisor import LocalProcess

#: The port ``dome fix`` listens on unless told otherwise (a customary FIX port).
DEFAULT_PORT = 9878


def register(sub: Any) -> None:
    """Add ``dome fix`` to the ``dome`` parser."""
    p = sub.add_parser(
        "fix",
        help="run the FIX 4.4 gateway (sessions per account, over the SDK)",
        description="Accept FIX 4.4 sessions (SenderCompID = account, Password = its token) "
        "and trade on the exchange through the SDK. See docs/fix.md.",
    )
    add_fix_arguments(p)
    p.set_defaults(func=lambda args: run(args, p))


def add_fix_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--discovery", help="discovery HOST:PORT (default: ./.dome/cluster.json)")
    p.add_argument("--target", help="one engine HOST:PORT instead of a cluster")
    p.add_argument(
        "--accounts",
        type=Path,
        help='JSON object {"account": "token"}: one session each (default: ./.dome/tokens.json)',
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to serve (default: loopback)")
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="FIX port (default %(default)s; 0: any)"
    )
    p.add_argument("--comp-id", default="DOME", help="the gateway's CompID (default: DOME)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DIR / "fix",
        help="sequence numbers, message store and gateway state (default: ./.dome/fix)",
    )
    p.add_argument("--metrics-port", type=int, default=0, help="metrics port (0: any, -1: off)")
    p.add_argument("--ready-file", type=Path, help="write JSON here once serving")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_tls_argument(p)
    p.add_argument(
        "--fix-tls-dir",
        type=Path,
        help="directory with tls.crt and tls.key: speak FIX over TLS on --port "
        "(a kubernetes.io/tls Secret's layout; --tls-dir is the exchange's TLS, not FIX's)",
    )


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Serve until SIGINT/SIGTERM."""
    import asyncio

    from dome.accounts import AccountsFileError, load_tokens
    from dome.cli_commands.common import UsageError, fail, load_tls
    from dome.json_logs import configure
    from dome.local.placement import discovery_from_cluster

    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, not {args.port}")
    if not -1 <= args.metrics_port <= 65535:
        parser.error(f"--metrics-port must be -1..65535, not {args.metrics_port}")
    if args.discovery and args.target:
        parser.error("give --discovery or --target, not both")
    if not args.comp_id.isascii() or not args.comp_id.isalnum():
        parser.error("--comp-id must be letters and digits")
    accounts = args.accounts or DEFAULT_DIR / "tokens.json"
    try:
        tokens = load_tokens(accounts)
        tls = load_tls(args)
    except (AccountsFileError, UsageError) as exc:
        return fail(f"error: {exc}", 2)
    discovery = args.discovery
    if not discovery and not args.target:
        discovery = discovery_from_cluster(DEFAULT_DIR)
        if discovery is None:
            return fail("error: no exchange: pass --discovery or --target, or run `dome up`", 2)
    configure(args.log_level, role="fix")
    try:
        from dome.fix.server import FixSettings, GatewayError, serve
    except ImportError as exc:  # the quickfix binding is missing
        return fail(f"the FIX gateway needs QuickFIX: pip install 'dome[fix]' ({exc})", 1)
    settings = FixSettings(
        tokens=tokens,
        discovery=discovery,
        target=args.target,
        host=args.host,
        port=args.port,
        comp_id=args.comp_id,
        data_dir=args.data_dir,
        metrics_port=args.metrics_port,
        ready_file=args.ready_file,
        tls=tls,
        fix_tls=args.fix_tls_dir,
    )
    from dome.client.errors import DomeError

    try:
        asyncio.run(serve(settings))
    except GatewayError as exc:
        return fail(str(exc), 1)
    except DomeError as exc:
        return fail(f"cannot reach the exchange: {exc}", 1)
    except KeyboardInterrupt:
        return 130
    return 0


async def start_fix_gateway(
    *, port: int, discovery: str, accounts: Path, data_dir: Path
) -> LocalProcess:
    """Spawn ``dome fix`` for ``dome up --fix-port`` and wait until it serves.

    Its state lives in ``DATA_DIR/fix`` and its log in ``DATA_DIR/fix.log``; like the
    engines it stops when its parent dies (``dome.lifetime``).
    """
    import asyncio
    import json
    import subprocess
    import sys

    from dome.lifetime import child_environment
    from dome.local.supervisor import START_DEADLINE_S, ClusterError, LocalProcess

    ready = data_dir / "fix.ready.json"
    ready.unlink(missing_ok=True)
    log_path = data_dir / "fix.log"
    argv = (
        sys.executable,
        "-m",
        "dome.fix",
        "--discovery",
        discovery,
        "--accounts",
        str(accounts),
        "--port",
        str(port),
        "--metrics-port",
        "0",
        "--data-dir",
        str(data_dir / "fix"),
        "--ready-file",
        str(ready),
    )
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=child_environment(),
        )
    process = LocalProcess(proc, {}, log_path, "fix", argv, ready)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_DEADLINE_S
    while loop.time() < deadline:
        if proc.returncode is not None:
            raise ClusterError(f"the FIX gateway exited with {proc.returncode}; see {log_path}")
        try:
            process.info = json.loads(ready.read_text())
            return process
        except (OSError, ValueError):
            await asyncio.sleep(0.05)  # polls the ready file; bounded by the deadline
    await process.stop()
    raise ClusterError(f"the FIX gateway did not serve within {START_DEADLINE_S:.0f}s")
