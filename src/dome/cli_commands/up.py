"""``dome up``: a whole exchange on localhost with one command, optionally with traders.

It starts discovery and N engines (each journaling to ``DIR/engine-K``: a later run in
the same directory recovers their books, ``--fresh`` forgets them), writes what it
started to ``DIR/cluster.json`` (client commands find their target there) and, unless
given accounts, creates dev accounts with fresh random tokens, so nothing secret is ever
a fixed string in the code. The tokens go to ``DIR/tokens.json`` (owner-only, for you,
the bots and the FIX gateway); the engines read ``DIR/accounts.json``, which holds only
their hashes (``dome.accounts``). Discovery and the engines share a
peer secret, generated into ``DIR/peer-secret`` (owner-only) by ``start_cluster``.

It then acts as a local orchestrator: an engine that exits while it runs is restarted
with the same id, data directory and options (it recovers its journal and rejoins as a
follower; ``cluster.json`` gets its new pid and address), with a backoff, and left down
if it keeps crashing (``Supervisor``). Meanwhile discovery has promoted followers, and
the bots and the view, which reach the engines through discovery (the SDK routes each
order to its symbol's primary and moves streams between replicas), keep trading.
Discovery exiting stops everything, as do Ctrl-C, SIGTERM and the end of ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from dome.accounts import new_token, write_accounts
from dome.cli_commands.common import DEFAULT_DIR, UsageError, fail, print_json, run_command
from dome.cli_commands.fix import start_fix_gateway
from dome.cli_commands.simulate import drive, load_accounts
from dome.client.errors import DomeError
from dome.files import write_json
from dome.instrument_spec import DEFAULT_INSTRUMENTS, InstrumentFileError, load_instruments
from dome.local.supervisor import ClusterError, LocalProcess, Supervisor, start_cluster

#: Humans' dev accounts; bots get ``bot-1`` .. ``bot-K`` on top.
DEV_ACCOUNTS = ("alice", "bob")
#: How long, after a client failed, to wait for the supervisor to name a fatal cause.
FATAL_GRACE_S = 1.0


def register(sub: Any) -> None:
    """Add ``dome up`` to the ``dome`` parser."""
    p = sub.add_parser("up", help="run an exchange on localhost (Ctrl-C stops it)")
    p.add_argument("--engines", type=int, default=3, help="engine processes (default: 3)")
    p.add_argument("--simulate", type=int, default=0, metavar="K", help="run K simulated bots")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--data-dir", default=str(DEFAULT_DIR), help="state directory (./.dome)")
    p.add_argument("--instruments", help="JSON list of instruments (default: built-in set)")
    p.add_argument("--accounts", help='JSON object {"account": "token"} (default: dev accounts)')
    p.add_argument(
        "--acks",
        choices=("all", "majority"),
        help="when a primary acknowledges: every in-sync follower journaled the entry, or a "
        "majority of replicas (default: discovery's)",
    )
    p.add_argument(
        "--fsync", choices=("always", "batch", "none"), help="engines' journal fsync policy"
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="forget the journals and placement of an earlier run in the state directory",
    )
    p.add_argument(
        "--fix-port",
        type=int,
        metavar="P",
        help="also run the FIX 4.4 gateway (`dome fix`) on port P (0: any free port)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the bots' randomness")
    p.add_argument("--json", action="store_true", help="end with one JSON line of totals")
    p.set_defaults(func=_up_entry)


def _up_entry(args: argparse.Namespace) -> int:
    if args.engines < 1 or args.simulate < 0 or (args.duration is not None and args.duration < 0):
        return fail("error: --engines must be at least 1, --simulate and --duration not "
                    "negative", 2)  # fmt: skip
    try:
        data_dir = Path(args.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        if args.fresh:
            _forget_state(data_dir)
        instruments, symbols = _instruments_file(args, data_dir)
        tokens, accounts, tokens_file, bot_accounts = _accounts(args, data_dir)
    except UsageError as exc:
        return fail(f"error: {exc}", 2)

    async def up(args: argparse.Namespace) -> int:
        return await _up(
            args, data_dir, instruments, symbols, accounts, tokens_file, tokens, bot_accounts
        )

    return run_command(args, up)


async def _up(
    args: argparse.Namespace,
    data_dir: Path,
    instruments: Path,
    symbols: list[str],
    accounts: Path,
    tokens_file: Path,
    tokens: dict[str, str],
    bot_accounts: list[str],
) -> int:
    notes = sys.stderr if args.json else sys.stdout
    (data_dir / "cluster.json").unlink(missing_ok=True)  # a stale one would mislead clients
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    # SIGTERM while starting: stop what already runs (start_cluster does) and leave.
    loop.add_signal_handler(signal.SIGTERM, main.cancel)
    try:
        cluster = await start_cluster(
            args.engines,
            data_dir=data_dir,
            instruments=instruments,
            accounts=accounts,
            symbols=symbols,
            acks=args.acks,
            fsync=args.fsync,
        )
    except ClusterError as exc:
        return fail(str(exc), 1)
    except asyncio.CancelledError:
        return fail("stopped while starting", 143)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
    record = data_dir / "cluster.json"
    fix_gateway: LocalProcess | None = None

    def cluster_record() -> dict[str, Any]:
        listed = cluster.record()
        if fix_gateway is not None:
            listed["processes"].append(fix_gateway.record())
        return listed

    def restarted(_: LocalProcess) -> None:
        write_json(record, cluster_record())

    def note(line: str) -> None:
        print(f"dome: {line}", file=sys.stderr, flush=True)

    supervisor = Supervisor(cluster, log=note, on_restart=restarted)
    supervising: asyncio.Task[str] | None = None
    code = 0
    try:
        discovery = cluster.discovery_address
        if args.fix_port is not None and discovery is not None:
            try:
                fix_gateway = await start_fix_gateway(
                    port=args.fix_port, discovery=discovery, accounts=tokens_file, data_dir=data_dir
                )
            except ClusterError as exc:
                return fail(str(exc), 1)
        write_json(record, cluster_record())
        args.resolved_target = f"discovery at {discovery}"
        for process in [*cluster.processes, *([fix_gateway] if fix_gateway else [])]:
            info = process.record()
            core = f"core {info['core']}, " if info["core"] else ""
            print(f"dome: {info['id']} serving at {info['address']} ({core}metrics "
                  f"{info['metrics']})", file=notes, flush=True)  # fmt: skip
        print(f"dome: state in {data_dir}/cluster.json, tokens in {tokens_file}", file=notes,
              flush=True)  # fmt: skip
        supervising = asyncio.create_task(supervisor.run())
        try:
            totals, elapsed = await drive(
                None,
                tokens,
                bot_accounts,
                args.simulate,
                args.duration,
                args.json,
                args.seed,
                alive=supervisor.wait_fatal,
                discovery=discovery,
                core=cluster.cores,
            )
        except DomeError:
            # A client gave up because the cluster broke (discovery died while they
            # connected): report what broke, which the supervisor sees at once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(supervisor.wait_fatal(), FATAL_GRACE_S)
            if supervisor.reason is None:
                raise
        if supervisor.reason is not None:
            code = fail(supervisor.reason, 1)
        elif supervisor.given_up:
            code = fail(f"{', '.join(supervisor.given_up)} kept crashing and stayed down", 1)
    finally:
        # A second Ctrl-C or SIGTERM must not orphan discovery half way through stopping.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: None)
        if fix_gateway is not None:
            await fix_gateway.stop()  # it logs its sessions out while the engines still run
        if supervising is not None:
            supervising.cancel()  # what exits from now on is being stopped, not crashing
            await asyncio.gather(supervising, return_exceptions=True)
        await cluster.stop()
    if code == 0 and args.json:
        print_json(totals.to_json(elapsed))
    return code


def _forget_state(data_dir: Path) -> None:
    """Remove what engines and discovery kept in ``data_dir`` (their own folders only)."""
    for folder in [data_dir / "discovery", data_dir / "fix", *data_dir.glob("engine-*")]:
        if folder.is_dir():
            shutil.rmtree(folder)


def _instruments_file(args: argparse.Namespace, data_dir: Path) -> tuple[Path, list[str]]:
    """The instruments file the processes read, and its symbols."""
    if args.instruments:
        try:
            specs = load_instruments(args.instruments)  # refuse a bad file before spawning
        except InstrumentFileError as exc:
            raise UsageError(str(exc)) from None
        return Path(args.instruments).resolve(), list(specs)
    path = data_dir / "instruments.json"
    write_json(path, [spec.to_dict() for spec in DEFAULT_INSTRUMENTS])
    return path, [spec.symbol for spec in DEFAULT_INSTRUMENTS]


def _accounts(
    args: argparse.Namespace, data_dir: Path
) -> tuple[dict[str, str], Path, Path, list[str]]:
    """Tokens by account, the (hashed) file the engines read, the tokens file clients
    read, and the accounts bots trade as."""
    engines_file = data_dir / "accounts.json"
    if args.accounts:
        tokens = load_accounts(args.accounts)
        write_accounts(engines_file, tokens)
        return tokens, engines_file, Path(args.accounts).resolve(), list(tokens)
    bots = [f"bot-{i}" for i in range(1, max(args.simulate, 1) + 1)]
    tokens = {name: new_token() for name in (*DEV_ACCOUNTS, *bots)}
    tokens_file = data_dir / "tokens.json"
    write_json(tokens_file, tokens, private=True)
    write_accounts(engines_file, tokens)
    return tokens, engines_file, tokens_file, bots
