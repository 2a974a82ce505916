"""What a running exchange shows its operator: a live board on a terminal, log lines elsewhere.

On a TTY the board redraws in place with plain ANSI codes (best levels per symbol, last
trades, order and trade rates, and in a cluster which engine leads each symbol, as
discovery publishes it); piped or captured, the same facts come as one key=value line
per interval, plus one ``placement`` line per symbol whenever its leadership changes, so
logs and tests can read them. No dependencies beyond the SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from dome.cli_commands.render import d
from dome.client import Client, DomeError
from dome.client.simulation import SimulationTotals
from dome.local.placement import PlacementUnavailable, fetch_placement


class Progress:
    """Turns successive totals into rates; ``render`` draws one frame or one line."""

    def __init__(
        self,
        out: TextIO,
        *,
        live: bool,
        symbols: list[str],
        target: str,
        discovery: str | None = None,
        core: Callable[[], str] | None = None,
    ) -> None:
        self.out = out
        self.live = live
        self.symbols = symbols
        self.target = target
        self.discovery = discovery
        #: The engines' book core as their ready files say (asked at each frame: a
        #: restarted engine reports again); None when not known (``dome simulate``).
        self.core = core
        self.started = time.monotonic()
        self._last = (self.started, SimulationTotals())
        #: Per symbol, the (epoch, primary, followers) last printed as a line.
        self._shown: dict[str, tuple[Any, ...]] = {}

    async def _placement(self) -> dict[str, Any] | None:
        if self.discovery is None:
            return None
        try:
            return await fetch_placement(self.discovery, rpc_timeout=1.0)
        except PlacementUnavailable:
            return None

    async def render(self, totals: SimulationTotals, market: Client | None) -> None:
        now = time.monotonic()
        then, before = self._last
        span = max(now - then, 1e-6)
        self._last = (now, SimulationTotals(totals.orders, totals.trades, totals.rejects))
        order_rate = (totals.orders - before.orders) / span
        trade_rate = (totals.trades - before.trades) / span
        elapsed = now - self.started
        placement = await self._placement()
        core = self.core() if self.core is not None else None
        exchange = await exchange_counts(market, self.symbols) if market is not None else None
        if not self.live:
            self._placement_lines(placement)
            everyone = (
                f" exchange_commands={exchange[0]} exchange_trades={exchange[1]}"
                if exchange
                else ""
            )
            print(
                f"t={elapsed:.1f}s orders={totals.orders} trades={totals.trades} "
                f"rejects={totals.rejects} orders_per_s={order_rate:.1f} "
                f"trades_per_s={trade_rate:.1f}{everyone}" + (f" core={core}" if core else ""),
                file=self.out,
                flush=True,
            )
            return
        shown_core = f"  core {core}" if core else ""
        lines = [
            f"DOME  {self.target}{shown_core}  up {elapsed:5.1f}s   (Ctrl-C stops)",
            f"exchange  commands {exchange[0]}  trades {exchange[1]}"
            if exchange
            else "exchange  (no answer)",
            f"own bots  orders {totals.orders}  trades {totals.trades}  rejects "
            f"{totals.rejects}  | {order_rate:7.1f} orders/s  {trade_rate:7.1f} trades/s",
            "",
        ]
        if placement is not None:
            lines.extend(_engine_lines(placement))
        if market is not None:
            # Concurrently: during an election one symbol's reads wait for its new primary.
            books = await asyncio.gather(*(_symbol_lines(market, s) for s in self.symbols))
            for symbol, symbol_lines in zip(self.symbols, books, strict=True):
                lines.extend(symbol_lines)
                if placement is not None and symbol in placement["symbols"]:
                    lines.append(f"  lead  {_lead(placement['symbols'][symbol])}")
        self.out.write("\x1b[H\x1b[2J" + "\n".join(lines) + "\n")
        self.out.flush()

    def _placement_lines(self, placement: dict[str, Any] | None) -> None:
        """One line per symbol whose epoch, primary or followers changed since last shown."""
        if placement is None:
            return
        for symbol, s in placement["symbols"].items():
            key = (s["epoch"], s["primary"], tuple(s["followers"]))
            if self._shown.get(symbol) != key:
                self._shown[symbol] = key
                print(
                    f"placement symbol={symbol} epoch={s['epoch']} primary={s['primary'] or '-'} "
                    f"followers={','.join(s['followers']) or '-'}",
                    file=self.out,
                    flush=True,
                )


def _lead(s: dict[str, Any]) -> str:
    primary = s["primary"] or "(election)"
    followers = ", ".join(s["followers"]) or "none"
    return f"{primary}  epoch {s['epoch']}  followers {followers}"


def _engine_lines(placement: dict[str, Any]) -> list[str]:
    engines = "  ".join(
        f"{e['id']}@{e['address']}{'' if e['alive'] else ' DOWN'}" for e in placement["engines"]
    )
    return [f"engines  {engines}", ""]


async def exchange_counts(market: Client, symbols: list[str]) -> tuple[int, int] | None:
    """Everyone's activity, not just ``dome up``'s bots: (commands, trades) over ``symbols``.

    Every command a symbol's primary sequences takes the next seq, and trade ids are
    consecutive per symbol, so the book's seq and the last trade's id count them; None
    if the exchange did not answer.
    """

    async def one(symbol: str) -> tuple[int, int]:
        book, last = await asyncio.gather(market.book(symbol, 1), market.trades(symbol, 1))
        return book.seq, last[-1].trade_id if last else 0

    try:
        counts = await asyncio.gather(*(one(s) for s in symbols))
    except DomeError:
        return None
    return sum(c for c, _ in counts), sum(t for _, t in counts)


async def _symbol_lines(market: Client, symbol: str) -> list[str]:
    lines = []
    with contextlib.suppress(DomeError):
        book = await market.book(symbol, 3)
        trades = await market.trades(symbol, 3)
        bids = "  ".join(f"{d(lv.qty)}@{d(lv.price)}" for lv in book.bids) or "-"
        asks = "  ".join(f"{d(lv.qty)}@{d(lv.price)}" for lv in book.asks) or "-"
        last = "  ".join(
            f"{d(t.qty)}@{d(t.price)}{'+' if t.aggressor and t.aggressor.name == 'BUY' else '-'}"
            for t in reversed(trades)
        )
        lines.append(f"{symbol:<10} seq {book.seq}")
        lines.append(f"  bids  {bids}")
        lines.append(f"  asks  {asks}")
        lines.append(f"  last  {last or '-'}")
    return lines


def is_tty(stream: TextIO = sys.stdout) -> bool:
    return stream.isatty()
