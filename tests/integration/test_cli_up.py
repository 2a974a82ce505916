"""``dome up``: a whole local exchange from one command, with bots, stopped cleanly.

These run the smallest cluster (discovery and one engine); ``test_cli_cluster`` runs three.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from client_helpers import dome, dome_json
from engine_harness import wait_for

from dome.accounts import hash_token


def test_up_with_simulation_for_a_duration(tmp_path: Path) -> None:
    data = tmp_path / "state"
    totals = dome_json("up", "--engines", "1", "--simulate", "2", "--duration", "5",
                       "--data-dir", str(data), timeout=60)  # fmt: skip
    assert set(totals) == {"orders", "trades", "rejects", "duration_s"}
    assert totals["orders"] > 0
    assert totals["trades"] > 0
    assert 4.5 <= totals["duration_s"] <= 6
    discovery, engine = json.loads((data / "cluster.json").read_text())["processes"]
    assert (discovery["role"], discovery["id"]) == ("discovery", "discovery")
    assert discovery["address"].startswith("127.0.0.1:")
    assert engine["role"] == "engine"
    assert engine["id"] == "engine-0"
    assert engine["address"].startswith("127.0.0.1:")
    assert engine["metrics"].startswith("http://127.0.0.1:")
    assert isinstance(engine["pid"], int)
    tokens = json.loads((data / "tokens.json").read_text())
    assert {"alice", "bob", "bot-1", "bot-2"} <= set(tokens)
    assert all(isinstance(t, str) and len(t) >= 48 for t in tokens.values())
    assert (data / "tokens.json").stat().st_mode & 0o777 == 0o600
    # The engines' file holds every account, and no token: only its hash.
    engines_file = (data / "accounts.json").read_text()
    assert json.loads(engines_file) == {name: hash_token(t) for name, t in tokens.items()}
    for token in tokens.values():
        assert token not in engines_file


def test_up_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps({"alice": "token-a", "bob": "token-b"}))
    instruments = tmp_path / "instruments.json"
    instruments.write_text(json.dumps([{"symbol": "XYZ", "tick_size": "0.01", "lot_size": "1",
                                        "min_qty": "1", "max_qty": "1000000"}]))  # fmt: skip
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dome.cli",
            "up",
            "--engines",
            "1",
            "--data-dir",
            str(tmp_path / "d"),
            "--accounts",
            str(accounts),
            "--instruments",
            str(instruments),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        cluster = tmp_path / "d" / "cluster.json"
        wait_for(cluster.exists, 30, "cluster.json")
        discovery, engine = json.loads(cluster.read_text())["processes"]
        # The exchange really serves, with the given accounts.
        target = ("--target", engine["address"], "--token", "token-a")
        placed = dome_json("order", *target, "--symbol", "XYZ", "--side", "buy", "--qty", "1",
                           "--price", "5")  # fmt: skip
        assert placed["status"] == "new"
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=20) == 0
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    # The engine and discovery went down with it.
    done = dome("book", "--target", engine["address"], "--symbol", "XYZ", "--timeout", "1")
    assert done.returncode == 1
    gone = dome("placement", "--discovery", discovery["address"], "--timeout", "1")
    assert gone.returncode == 1


def test_up_refuses_an_accounts_file_the_engine_would_refuse(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps({"alice": "same", "bob": "same"}))
    proc = dome("up", "--accounts", str(accounts), "--data-dir", str(tmp_path / "d"),
                "--duration", "1")  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "two accounts share a token" in proc.stderr
    assert not (tmp_path / "d" / "cluster.json").exists()  # nothing was started
