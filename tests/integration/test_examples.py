"""The numbered examples run as documented, against a real engine, and do what they say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine_harness import EngineProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(engine: EngineProcess, example: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / example / "main.py"), "--target", engine.address, *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_place_and_stream_sees_every_report(engine: EngineProcess) -> None:
    out = _run(engine, "01-place-and-stream", "--token", engine.accounts["alice"],
               "--symbol", engine.symbol())  # fmt: skip
    assert "sell #1: new" in out
    assert "buy #2: cancelled" in out
    assert out.count("report seq") == 3
    assert "bids 0 levels, asks 0" in out


def test_own_bot_trades_and_can_run_again(engine: EngineProcess) -> None:
    symbol = engine.symbol()
    for _ in range(2):  # a second run must not collide with the first run's order ids
        out = _run(engine, "02-your-own-bot", "--token", engine.accounts["alice"],
                   "--seller-token", engine.accounts["bob"], "--symbol", symbol)  # fmt: skip
        assert out.count("bought ") == 3, out
        assert "fills 3" in out
