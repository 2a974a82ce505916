"""``dome simulate``: predefined bots against a running exchange, and the loop ``dome up`` shares.

The loop owns the clock and the stop signal: it runs until the duration passes or
SIGINT/SIGTERM arrives, then lets the bots take their orders off the book, so a run ends
with an exchange left as tidy as it found it and one honest line of totals.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import dome.accounts as accounts_file
from dome.cli_commands.common import DEFAULT_DIR, UsageError, print_json, run_command
from dome.cli_commands.view import Progress
from dome.client import Client
from dome.client.bots import Bot
from dome.client.local import NoLocalExchange, local_target
from dome.client.simulation import (
    KINDS,
    Simulation,
    SimulationTotals,
    load_bot_class,
    predefined,
)
from dome.local.placement import discovery_from_cluster

#: Longest a progress frame may take (its reads wait for primaries during an election).
RENDER_BOUND_S = 2.0


def register(sub: Any) -> None:
    """Add ``dome simulate`` to the ``dome`` parser."""
    p = sub.add_parser("simulate", help="run simulated traders against a running exchange")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--target", help="one engine HOST:PORT (default: $DOME_TARGET)")
    where.add_argument(
        "--discovery",
        help="a cluster's discovery HOST:PORT: orders go to each symbol's primary and survive "
        "failovers (default: $DOME_DISCOVERY, else DATA_DIR/cluster.json)",
    )
    p.add_argument(
        "--data-dir", default=str(DEFAULT_DIR), help="where `dome up` keeps its state (./.dome)"
    )
    p.add_argument(
        "--accounts", required=True, help='JSON file {"account": "token", ...} the bots trade as'
    )
    p.add_argument("--bots", type=int, default=4, help="how many bots (default: 4)")
    p.add_argument(
        "--bot",
        action="append",
        metavar="MODULE:CLASS",
        help="your own Bot subclass (package.module:Class or path/file.py:Class), built as "
        "Class(symbol, seed=..., ref_price=...); repeat for several kinds; the bots cycle "
        "over them (default: the built-in market maker, random trader, momentum taker)",
    )
    p.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--seed", type=int, default=1, help="seed of the bots' randomness")
    p.add_argument("--json", action="store_true", help="end with one JSON line of totals")
    p.set_defaults(func=lambda a: run_command(a, _simulate))


def resolve_exchange(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """``(target, discovery)``, exactly one set: flags, then environment, then cluster.json.

    A cluster (discovery known) is preferred to one of its engines, since the SDK then
    follows the primaries through failovers.
    """
    if args.target:
        return str(args.target), None
    if args.discovery:
        return None, str(args.discovery)
    if os.environ.get("DOME_TARGET"):
        return os.environ["DOME_TARGET"], None
    if os.environ.get("DOME_DISCOVERY"):
        return None, os.environ["DOME_DISCOVERY"]
    discovery = discovery_from_cluster(args.data_dir)
    if discovery is not None:
        return None, discovery
    try:
        return local_target(args.data_dir), None
    except NoLocalExchange as exc:
        raise UsageError(
            f"no exchange: pass --target HOST:PORT or --discovery HOST:PORT, or run `dome up` "
            f"({exc})"
        ) from None


def load_accounts(path: str | Path) -> dict[str, str]:
    """The tokens file (``dome.accounts``: tokens in clear); a bad one is a usage error."""
    try:
        tokens = accounts_file.load_tokens(path)
    except accounts_file.AccountsFileError as exc:
        raise UsageError(str(exc)) from None
    if not tokens:
        raise UsageError(f"{path}: names no account to trade as")
    return tokens


async def _simulate(args: argparse.Namespace) -> int:
    if args.bots < 1:
        raise UsageError("--bots must be at least 1")
    target, discovery = resolve_exchange(args)
    args.resolved_target = target or f"discovery at {discovery}"
    tokens = load_accounts(args.accounts)
    try:
        kinds = [load_bot_class(spec) for spec in args.bot or ()] or list(KINDS)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    totals, elapsed = await drive(
        target,
        tokens,
        list(tokens),
        args.bots,
        args.duration,
        args.json,
        args.seed,
        discovery=discovery,
        kinds=kinds,
    )
    if args.json:
        print_json(totals.to_json(elapsed))
    return 0


async def drive(
    target: str | None,
    tokens: dict[str, str],
    bot_accounts: list[str],
    bots: int,
    duration: float | None,
    json_out: bool,
    seed: int = 1,
    *,
    alive: Callable[[], Coroutine[Any, Any, None]] | None = None,
    discovery: str | None = None,
    core: Callable[[], str] | None = None,
    kinds: Sequence[type[Bot]] = KINDS,
) -> tuple[SimulationTotals, float]:
    """Run ``bots`` bots (none if 0) with a progress view until duration, signal or ``alive``
    returns (it watches e.g. the processes). Returns totals and seconds run.

    With ``discovery`` (and no ``target``) bots and view reach the cluster through it: no
    engine is theirs alone, so they keep going while one dies and another takes over its
    symbols; the view also shows which engine leads which symbol. ``core`` names the
    engines' book core for the view's header (``dome up`` knows it from their ready files)."""
    if target is None and discovery is None:
        raise ValueError("drive needs a target engine or a discovery address")
    routed = target is None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    market = (
        Client(discovery=discovery, timeout=1.0, retry_deadline=2.0)
        if routed
        else Client(target, timeout=2.0, retry_deadline=2.0)
    )
    try:
        await market.connect()
        symbols = sorted(await market.instruments())
        sim = None
        if bots:
            configs = predefined(bots, symbols, bot_accounts, seed, kinds)
            sim = Simulation(target, tokens, configs, discovery=discovery if routed else None)
        live = sys.stdout.isatty() and not json_out
        out = sys.stderr if json_out else sys.stdout
        label = target or f"discovery {discovery}"
        progress = Progress(
            out, live=live, symbols=symbols, target=label, discovery=discovery, core=core
        )
        sim_task = asyncio.create_task(sim.run(stop)) if sim else None
        watchers: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
        if sim_task:
            watchers.append(sim_task)
        broken = asyncio.create_task(alive()) if alive else None
        if broken:
            watchers.append(broken)
        started = loop.time()
        deadline = started + duration if duration is not None else None
        while not stop.is_set():
            step = 1.0 if deadline is None else max(min(1.0, deadline - loop.time()), 0)
            done, _ = await asyncio.wait(watchers, timeout=step)
            if done or (deadline is not None and loop.time() >= deadline):
                break
            # A frame drawn during an election waits for reads; it must not hold the clock.
            left = RENDER_BOUND_S if deadline is None else deadline - loop.time()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(min(left, RENDER_BOUND_S), 0.1)):
                    await progress.render(sim.totals() if sim else SimulationTotals(), market)
        elapsed = loop.time() - started
        if sim and broken and broken.done():
            sim.tidy_up = False  # the cluster broke: nothing would take the cancels
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
