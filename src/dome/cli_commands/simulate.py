"""``dome simulate``: predefined bots against a running exchange, and the loop ``dome up`` shares.

The loop owns the clock and the stop signal: it runs until the duration passes or
SIGINT/SIGTERM arrives, then lets the bots take their orders off the book, so a run ends
with an exchange left as tidy as it found it and one honest line of totals.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import dome.accounts as accounts_file
from dome.cli_commands.common import UsageError, print_json, resolve_target, run_command
from dome.cli_commands.view import Progress
from dome.client import Client
from dome.client.simulation import Simulation, SimulationTotals, predefined


def register(sub: Any) -> None:
    """Add ``dome simulate`` to the ``dome`` parser."""
    p = sub.add_parser("simulate", help="run simulated traders against a running exchange")
    p.add_argument("--target", help="engine HOST:PORT (default: $DOME_TARGET or ./.dome)")
    p.add_argument(
        "--accounts", required=True, help='JSON file {"account": "token", ...} the bots trade as'
    )
    p.add_argument("--bots", type=int, default=4, help="how many bots (default: 4)")
    p.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--seed", type=int, default=1, help="seed of the bots' randomness")
    p.add_argument("--json", action="store_true", help="end with one JSON line of totals")
    p.set_defaults(func=lambda a: run_command(a, _simulate))


def load_accounts(path: str | Path) -> dict[str, str]:
    """The accounts file (``dome.accounts``); a bad one is a usage error."""
    try:
        tokens = accounts_file.load_accounts(path)
    except accounts_file.AccountsFileError as exc:
        raise UsageError(str(exc)) from None
    if not tokens:
        raise UsageError(f"{path}: names no account to trade as")
    return tokens


async def _simulate(args: argparse.Namespace) -> int:
    if args.bots < 1:
        raise UsageError("--bots must be at least 1")
    target = resolve_target(args)
    args.resolved_target = target
    tokens = load_accounts(args.accounts)
    totals, elapsed = await drive(
        target, tokens, list(tokens), args.bots, args.duration, args.json, args.seed
    )
    if args.json:
        print_json(totals.to_json(elapsed))
    return 0


async def drive(
    target: str,
    tokens: dict[str, str],
    bot_accounts: list[str],
    bots: int,
    duration: float | None,
    json_out: bool,
    seed: int = 1,
    *,
    alive: Callable[[], Coroutine[Any, Any, None]] | None = None,
    discovery: str | None = None,
) -> tuple[SimulationTotals, float]:
    """Run ``bots`` bots (none if 0) with a progress view until duration, signal or ``alive``
    returns (it watches e.g. the engine process). Returns totals and seconds run.

    With ``discovery`` the view also shows which engine leads which symbol."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    market = Client(target, timeout=2.0, retry_deadline=2.0)
    try:
        symbols = sorted(await market.instruments())
        sim = None
        if bots:
            sim = Simulation(target, tokens, predefined(bots, symbols, bot_accounts, seed))
        live = sys.stdout.isatty() and not json_out
        out = sys.stderr if json_out else sys.stdout
        progress = Progress(out, live=live, symbols=symbols, target=target, discovery=discovery)
        sim_task = asyncio.create_task(sim.run(stop)) if sim else None
        watchers: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
        if sim_task:
            watchers.append(sim_task)
        if alive:
            watchers.append(asyncio.create_task(alive()))
        started = loop.time()
        deadline = started + duration if duration is not None else None
        while not stop.is_set():
            step = 1.0 if deadline is None else max(min(1.0, deadline - loop.time()), 0)
            done, _ = await asyncio.wait(watchers, timeout=step)
            if done or (deadline is not None and loop.time() >= deadline):
                break
            await progress.render(sim.totals() if sim else SimulationTotals(), market)
        elapsed = loop.time() - started
        stop.set()
        for task in watchers:
            if task is not sim_task and not task.done():
                task.cancel()
        totals = await sim_task if sim_task else SimulationTotals()
        return totals, elapsed
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await market.close()
