"""examples/03-market-maker on ``dome up --engines 3``: kill -9 a primary, crash the bot.

Real processes throughout: ``dome up`` (discovery and three engines), the example (the
maker and its IOC taker, through discovery). Once the maker trades, the primary of its
symbol is killed with SIGKILL (``dome up`` restarts it); once it trades again, the bot
itself is killed with SIGKILL, leaving its quotes on the book; a second run with the
same tag picks them and its position up, trades, and stops cleanly. Then the exchange's
own record of the maker's fills (its execution history, read back in seq order) must
give exactly the position the bot reported, and that position must never have gone
past ±10 lots at any point of the record.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_cli_up_failover import Lines, _placement, _processes, _stop

from dome.client import Client, Side
from dome.client.history import history
from processes import stop_process
from waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(280)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "03-market-maker" / "main.py"
SYMBOL = "XYZ"
LIMIT = Decimal(10)


def _fills(lines: Lines) -> int:
    return sum(1 for _, line in lines.snapshot() if line.startswith("fill "))


def _example(data: Path, tokens: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, str(EXAMPLE), "--data-dir", str(data), "--symbol", SYMBOL,
            "--token", tokens["alice"], "--taker-token", tokens["bob"], *extra]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def _exchange_record(discovery: str, token: str, prefix: str) -> list[Decimal]:
    """The maker's position after each of its fills, from the exchange's history."""
    async with Client(discovery=discovery, token=token) as client:
        reports = await history(client, [SYMBOL])
    positions: list[Decimal] = []
    position = Decimal(0)
    for report in reports:
        if report.fill is not None and report.client_order_id.startswith(prefix):
            position += report.fill.qty if report.side is Side.BUY else -report.fill.qty
            positions.append(position)
    return positions


async def _position_record(discovery: str, token: str, tag: str) -> Decimal:
    """The maker's position as the exchange records it (``GetPositions``, its book)."""
    async with Client(discovery=discovery, token=token) as client:
        return (await client.positions(SYMBOL, tag)).book(tag).position.qty


def test_market_maker_survives_a_primary_kill_and_its_own_restart(tmp_path: Path) -> None:
    data = tmp_path / "state"
    up = subprocess.Popen(
        [sys.executable, "-m", "dome.cli", "up", "--engines", "3", "--duration", "240",
         "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    up_err = Lines(up.stderr)
    Lines(up.stdout)
    first: subprocess.Popen[str] | None = None
    second: subprocess.Popen[str] | None = None
    try:
        wait_for(lambda: len(_processes(data)) == 4 or up.poll() is not None, 60, "cluster.json")
        assert up.poll() is None, up_err.text()
        discovery = _processes(data)["discovery"]["address"]
        tokens = json.loads((data / "tokens.json").read_text())

        def primary() -> str | None:
            doc = _placement(discovery)
            return doc["symbols"][SYMBOL]["primary"] or None if doc else None

        wait_for(primary, 30, f"a primary for {SYMBOL}")
        first = _example(data, tokens)
        out1, err1 = Lines(first.stdout), Lines(first.stderr)
        wait_for(lambda: _fills(out1) >= 5 or first.poll() is not None, 60, "the maker's fills")
        assert first.poll() is None, err1.text()

        victim = primary()
        assert victim is not None
        os.kill(_processes(data)[victim]["pid"], signal.SIGKILL)
        before = _fills(out1)
        wait_for(lambda: _fills(out1) >= before + 5 or first.poll() is not None, 60,
                 "fills after the primary's kill")  # fmt: skip
        assert first.poll() is None, err1.text()
        first.kill()  # the bot crashes: its quotes stay on the book
        first.wait(10)

        second = _example(data, tokens, "--duration", "8")
        out2, err2 = Lines(second.stdout), Lines(second.stderr)
        assert second.wait(90) == 0, err2.text()
        out2.join(5)
        summary: dict[str, Any] = json.loads(out2.snapshot()[-1][1])
        assert summary["seeded"], "the restarted bot could not read its history"
        assert summary["fills"] > 0, out2.text()
        assert summary["open_after_stop"] == 0, "quotes stayed on the book after the stop"

        record = asyncio.run(_exchange_record(discovery, tokens["alice"], summary["prefix"]))
        assert record, "the exchange holds no fills of the maker"
        assert Decimal(summary["position"]) == record[-1], (summary, record[-10:])
        assert max(abs(p) for p in record) <= LIMIT, f"the limit was breached: {record}"
        assert Decimal(summary["widest"]) <= LIMIT
        booked = asyncio.run(_position_record(discovery, tokens["alice"], summary["tag"]))
        assert booked == record[-1], "the exchange's position record disagrees with its history"
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                stop_process(proc, signal.SIGTERM, 15)
        _stop(up)
