"""What a running exchange shows its operator: a live board on a terminal, log lines elsewhere.

On a TTY the board redraws in place with plain ANSI codes (best levels per symbol, last
trades, order and trade rates); piped or captured, the same facts come as one key=value
line per interval so logs and tests can read them. No dependencies beyond the SDK.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TextIO

from dome.cli_commands.render import d
from dome.client import Client, DomeError
from dome.client.simulation import SimulationTotals


class Progress:
    """Turns successive totals into rates; ``render`` draws one frame or one line."""

    def __init__(self, out: TextIO, *, live: bool, symbols: list[str], target: str) -> None:
        self.out = out
        self.live = live
        self.symbols = symbols
        self.target = target
        self.started = time.monotonic()
        self._last = (self.started, SimulationTotals())

    async def render(self, totals: SimulationTotals, market: Client | None) -> None:
        now = time.monotonic()
        then, before = self._last
        span = max(now - then, 1e-6)
        self._last = (now, SimulationTotals(totals.orders, totals.trades, totals.rejects))
        order_rate = (totals.orders - before.orders) / span
        trade_rate = (totals.trades - before.trades) / span
        elapsed = now - self.started
        if not self.live:
            print(
                f"t={elapsed:.1f}s orders={totals.orders} trades={totals.trades} "
                f"rejects={totals.rejects} orders_per_s={order_rate:.1f} "
                f"trades_per_s={trade_rate:.1f}",
                file=self.out,
                flush=True,
            )
            return
        lines = [
            f"DOME  {self.target}  up {elapsed:5.1f}s   (Ctrl-C stops)",
            f"orders {totals.orders}  trades {totals.trades}  rejects {totals.rejects}  "
            f"| {order_rate:7.1f} orders/s  {trade_rate:7.1f} trades/s",
            "",
        ]
        if market is not None:
            for symbol in self.symbols:
                lines.extend(await _symbol_lines(market, symbol))
        self.out.write("\x1b[H\x1b[2J" + "\n".join(lines) + "\n")
        self.out.flush()


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
