"""Simulated traders: K predefined bots cycling over example strategies, accounts and symbols.

The point is a lively, repeatable market for demos (`dome up --simulate K`) and tests:
the first bots share the first symbol (a market maker, then a random trader, then a
momentum taker) so that even two bots trade with each other from the first second.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from dome.client.bots import Bot, BotStats
from dome.client.client import Client
from dome.client.runner import BotRunner
from dome.client.strategies import MarketMaker, MomentumTaker, RandomTrader

#: How long the bots may spend taking their orders off the book when a run ends.
TIDY_UP_S = 2.0

#: Where a bot starts quoting when a book is empty and has never traded.
REFERENCE_PRICES: dict[str, Decimal] = {
    "BTC-USD": Decimal(30000),
    "ETH-USD": Decimal(2000),
    "SOL-USD": Decimal(100),
    "XYZ": Decimal(100),
}

KINDS: tuple[type[Bot], ...] = (MarketMaker, RandomTrader, MomentumTaker)


@dataclass(frozen=True)
class BotConfig:
    """One simulated trader: which strategy, on which symbol, as which account."""

    kind: type[Bot]
    symbol: str
    account: str
    seed: int

    def build(self) -> Bot:
        ref = REFERENCE_PRICES.get(self.symbol, Decimal(100))
        return self.kind(self.symbol, seed=self.seed, ref_price=ref)


def predefined(
    count: int,
    symbols: list[str],
    accounts: list[str],
    seed: int = 1,
    kinds: Sequence[type[Bot]] = KINDS,
) -> list[BotConfig]:
    """The first ``count`` configurations: strategies (``kinds``) cycle fastest, then symbols.

    >>> [(c.kind.__name__, c.symbol, c.account) for c in predefined(4, ["A", "B"], ["x", "y"])]
    [('MarketMaker', 'A', 'x'), ('RandomTrader', 'A', 'y'), ('MomentumTaker', 'A', 'x'), \
('MarketMaker', 'B', 'y')]
    """
    if not symbols or not accounts or not kinds:
        raise ValueError("a simulation needs at least one symbol, account and kind of bot")
    return [
        BotConfig(
            kinds[i % len(kinds)],
            symbols[(i // len(kinds)) % len(symbols)],
            accounts[i % len(accounts)],
            seed + i,
        )
        for i in range(count)
    ]


@dataclass
class SimulationTotals:
    """What all bots did together."""

    orders: int = 0
    trades: int = 0
    rejects: int = 0
    errors: int = 0

    def to_json(self, duration_s: float) -> dict[str, object]:
        return {
            "orders": self.orders,
            "trades": self.trades,
            "rejects": self.rejects,
            "duration_s": round(duration_s, 3),
        }


class Simulation:
    """Runs bots until stopped; one client per account.

    The clients talk to one engine (``target``) or, given ``discovery`` instead, to a
    cluster: each order goes to its symbol's primary and streams move between replicas,
    so the bots trade on through the death of any one engine.
    """

    def __init__(
        self,
        target: str | None,
        tokens: dict[str, str],
        configs: list[BotConfig],
        *,
        discovery: str | None = None,
    ) -> None:
        if (target is None) == (discovery is None):
            raise ValueError("a simulation needs exactly one of target or discovery")
        missing = {c.account for c in configs} - set(tokens)
        if missing:
            raise ValueError(f"no token for accounts: {', '.join(sorted(missing))}")
        self.target = target
        self.discovery = discovery
        self.configs = configs
        self.clients = {
            acct: Client(target, tokens[acct], discovery=discovery)
            for acct in {c.account for c in configs}
        }
        self.runners = [
            BotRunner(c.build(), self.clients[c.account], tag=f"sim{i}-{c.seed}")
            for i, c in enumerate(configs)
        ]
        self.started = time.monotonic()
        self._tidy_up = True

    @property
    def tidy_up(self) -> bool:
        """Take the bots' orders off the book at the end (each runner's stop does).

        Cleared when the exchange is known to be broken (discovery gone), where every
        cancel would only retry.
        """
        return self._tidy_up

    @tidy_up.setter
    def tidy_up(self, value: bool) -> None:
        self._tidy_up = value
        for runner in self.runners:
            runner.cancel_on_stop = value

    def totals(self) -> SimulationTotals:
        out = SimulationTotals()
        for runner in self.runners:
            s: BotStats = runner.stats
            out.orders += s.orders
            out.trades += s.taker_fills
            out.rejects += s.rejects
            out.errors += s.errors
        return out

    async def run(self, stop: asyncio.Event) -> SimulationTotals:
        """Connect, trade until ``stop``, take resting orders off, disconnect."""
        self.started = time.monotonic()
        try:
            for client in self.clients.values():
                await client.connect()
            tasks = [asyncio.create_task(r.run(stop)) for r in self.runners]
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            if self.tidy_up:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(TIDY_UP_S):
                        await asyncio.gather(*(r.cancel_all() for r in self.runners))
        finally:
            for client in self.clients.values():
                await client.close()
        return self.totals()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def load_bot_class(spec: str) -> type[Bot]:
    """The ``Bot`` subclass ``spec`` names: ``package.module:Class`` or ``path/file.py:Class``.

    It is built as ``Class(symbol, seed=..., ref_price=...)``, as ``Bot`` is. Raises
    ``ValueError`` with a message for anything else.
    """
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise ValueError(f"--bot wants MODULE:CLASS or FILE.py:CLASS, not {spec!r}")
    try:
        if where.endswith(".py"):
            path = Path(where)
            loader = importlib.util.spec_from_file_location(path.stem, path)
            if loader is None or loader.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(loader)
            sys.modules[path.stem] = module
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except (ImportError, OSError, SyntaxError) as exc:
        raise ValueError(f"--bot {spec}: {exc}") from None
    kind = getattr(module, name, None)
    if not (isinstance(kind, type) and issubclass(kind, Bot)):
        raise ValueError(f"--bot {spec}: {name} is not a dome.client.Bot subclass")
    return kind
