"""Client commands find the exchange in any state directory; ``dome simulate`` runs your bot."""

from __future__ import annotations

import json
from pathlib import Path

from client_helpers import dome
from engine_harness import EngineProcess

BOT = """
from decimal import Decimal
from dome.client import Bot, Place, Side


class Bidder(Bot):
    interval = 0.05

    def generate_orders(self, view):
        if view.orders:
            return ()
        return (Place(Side.BUY, view.lots(1), Decimal("1.00")),)
"""


def _state_dir(tmp_path: Path, engine: EngineProcess) -> Path:
    data = tmp_path / "elsewhere"
    data.mkdir()
    record = {"role": "engine", "id": "engine-0", "address": engine.address}
    (data / "cluster.json").write_text(json.dumps({"processes": [record]}))
    return data


def test_client_commands_take_a_data_dir(tmp_path: Path, engine: EngineProcess) -> None:
    data = _state_dir(tmp_path, engine)
    symbol = engine.symbol()
    token = engine.accounts["alice"]
    placed = dome("order", "--side", "buy", "--symbol", symbol, "--qty", "2", "--price", "3.00",
                  "--token", token, "--data-dir", str(data), "--json", cwd=tmp_path)  # fmt: skip
    assert placed.returncode == 0, placed.stderr
    book = dome("book", "--symbol", symbol, "--data-dir", str(data), "--json", cwd=tmp_path)
    assert book.returncode == 0, book.stderr
    assert json.loads(book.stdout)["bids"] == [["3", "2", 1]]
    # Without it, from a directory with no .dome, there is nothing to find.
    lost = dome("book", "--symbol", symbol, cwd=tmp_path)
    assert lost.returncode == 2
    assert ".dome" in lost.stderr


def _line_fields(text: str) -> dict[str, str]:
    """The last ``t=... key=value ...`` progress line's fields."""
    lines = [line for line in text.splitlines() if line.startswith("t=")]
    assert lines, text
    return dict(f.split("=", 1) for f in lines[-1].split() if "=" in f)


def test_simulate_runs_your_own_bot(tmp_path: Path, engine: EngineProcess) -> None:
    # Someone else trades first: the status line counts the exchange's activity too.
    symbol = engine.symbol()
    for side in ("sell", "buy"):
        account = "alice" if side == "sell" else "bob"
        done = dome("order", "--side", side, "--symbol", symbol, "--qty", "1", "--price", "5",
                    "--target", engine.address, "--token", engine.accounts[account],
                    "--json")  # fmt: skip
        assert done.returncode == 0, done.stderr
    (tmp_path / "mybot.py").write_text(BOT)
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps({"carol": engine.accounts["carol"]}))
    done = dome("simulate", "--target", engine.address, "--accounts", str(accounts),
                "--bot", f"{tmp_path / 'mybot.py'}:Bidder", "--bots", "1",
                "--duration", "2", "--json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["orders"] >= 1
    status = _line_fields(done.stderr)
    assert int(status["exchange_trades"]) >= 1, status
    assert int(status["exchange_commands"]) >= int(status["orders"]) + 2, status
    wrong = dome("simulate", "--target", engine.address, "--accounts", str(accounts),
                 "--bot", "json:loads", "--duration", "1", cwd=tmp_path)  # fmt: skip
    assert wrong.returncode == 2
    assert "not a dome.client.Bot subclass" in wrong.stderr
