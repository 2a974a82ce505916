"""``dome up``: a whole exchange on localhost with one command, optionally with traders.

It writes what it started to ``DIR/cluster.json`` (client commands find their target
there) and, unless given accounts, creates dev accounts with fresh random tokens in
``DIR/accounts.json`` so nothing secret is ever a fixed string in the code.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from typing import Any

from dome.cli_commands.cluster import (
    ClusterError,
    LocalProcess,
    cluster_record,
    start_engine,
)
from dome.cli_commands.common import DEFAULT_DIR, UsageError, fail, print_json, run_command
from dome.cli_commands.simulate import drive, load_accounts
from dome.files import write_json
from dome.instruments import DEFAULT_INSTRUMENTS, InstrumentFileError, load_instruments

#: Humans' dev accounts; bots get ``bot-1`` .. ``bot-K`` on top.
DEV_ACCOUNTS = ("alice", "bob")


def register(sub: Any) -> None:
    """Add ``dome up`` to the ``dome`` parser."""
    p = sub.add_parser("up", help="run an exchange on localhost (Ctrl-C stops it)")
    p.add_argument("--engines", type=int, default=1, help="engine processes (default: 1)")
    p.add_argument("--simulate", type=int, default=0, metavar="K", help="run K simulated bots")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--data-dir", default=str(DEFAULT_DIR), help="state directory (./.dome)")
    p.add_argument("--instruments", help="JSON list of instruments (default: built-in set)")
    p.add_argument("--accounts", help='JSON object {"account": "token"} (default: dev accounts)')
    p.add_argument("--seed", type=int, default=1, help="seed of the bots' randomness")
    p.add_argument("--json", action="store_true", help="end with one JSON line of totals")
    p.set_defaults(func=_up_entry)


def _up_entry(args: argparse.Namespace) -> int:
    if args.engines > 1:
        return fail("not yet: distribution lands with the replication issue", 2)
    if args.engines < 1 or args.simulate < 0 or (args.duration is not None and args.duration < 0):
        return fail("error: --engines must be 1, --simulate and --duration not negative", 2)
    try:
        data_dir = Path(args.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        instruments = _instruments_file(args, data_dir)
        tokens, accounts, bot_accounts = _accounts(args, data_dir)
    except UsageError as exc:
        return fail(f"error: {exc}", 2)

    async def up(args: argparse.Namespace) -> int:
        return await _up(args, data_dir, instruments, accounts, tokens, bot_accounts)

    return run_command(args, up)


async def _up(
    args: argparse.Namespace,
    data_dir: Path,
    instruments: Path,
    accounts: Path,
    tokens: dict[str, str],
    bot_accounts: list[str],
) -> int:
    notes = sys.stderr if args.json else sys.stdout
    try:
        engine = await start_engine(
            "engine-0", instruments=instruments, accounts=accounts, data_dir=data_dir
        )
    except ClusterError as exc:
        return fail(str(exc), 1)
    processes: list[LocalProcess] = [engine]
    code = 0
    try:
        write_json(data_dir / "cluster.json", cluster_record(processes))
        target = str(engine.info["address"])
        args.resolved_target = target
        print(
            f"dome: engine-0 serving at {target} (metrics {engine.info.get('metrics')}); "
            f"state in {data_dir}/cluster.json, tokens in {accounts}",
            file=notes,
            flush=True,
        )
        totals, elapsed = await drive(
            target,
            tokens,
            bot_accounts,
            args.simulate,
            args.duration,
            args.json,
            args.seed,
            alive=engine.wait_exit,
        )
        if engine.proc.returncode is not None:
            code = fail(f"engine-0 exited with {engine.proc.returncode}; see {engine.log_path}", 1)
    finally:
        for process in reversed(processes):
            await process.stop()
    if code == 0 and args.json:
        print_json(totals.to_json(elapsed))
    return code


def _instruments_file(args: argparse.Namespace, data_dir: Path) -> Path:
    if args.instruments:
        try:
            load_instruments(args.instruments)  # refuse a bad file before spawning anything
        except InstrumentFileError as exc:
            raise UsageError(str(exc)) from None
        return Path(args.instruments).resolve()
    path = data_dir / "instruments.json"
    write_json(path, [spec.to_dict() for spec in DEFAULT_INSTRUMENTS])
    return path


def _accounts(args: argparse.Namespace, data_dir: Path) -> tuple[dict[str, str], Path, list[str]]:
    """Tokens by account, the file the engine reads, and the accounts bots trade as."""
    if args.accounts:
        tokens = load_accounts(args.accounts)
        return tokens, Path(args.accounts).resolve(), list(tokens)
    bots = [f"bot-{i}" for i in range(1, max(args.simulate, 1) + 1)]
    tokens = {name: new_token() for name in (*DEV_ACCOUNTS, *bots)}
    path = data_dir / "accounts.json"
    write_json(path, tokens, private=True)
    return tokens, path, bots


def new_token() -> str:
    """A random bearer token that is safe on a command line.

    Hex only: a URL-safe token can start with "-", and `dome order --token -x...` would
    then read as an option (a usage error one time in 64).
    """
    return secrets.token_hex(16)
