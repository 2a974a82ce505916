"""``dome fix`` and ``dome up --fix-port``: the gateway from the command line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from initiator import Initiator, session_config
from test_fix_orders import new_order, report

from processes import pid_running, stop_process
from waiting import wait_for

DOME = [sys.executable, "-m", "dome.cli"]


def test_up_with_a_fix_port_serves_fix_sessions(tmp_path: Path, initiator_built: None) -> None:
    data = tmp_path / "d"
    up = subprocess.Popen(
        [*DOME, "up", "--engines", "1", "--fix-port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        cluster = data / "cluster.json"

        def gateway_entry() -> dict[str, object] | None:
            if up.poll() is not None:
                raise AssertionError(f"dome up exited {up.returncode}: {up.stderr.read()}")
            try:
                processes = json.loads(cluster.read_text())["processes"]
            except (OSError, ValueError):
                return None
            return next((p for p in processes if p["role"] == "fix"), None)

        entry = wait_for(gateway_entry, 60, "the FIX gateway in cluster.json")
        port = int(str(entry["address"]).rsplit(":", 1)[1])
        token = json.loads((data / "tokens.json").read_text())["alice"]
        config = session_config(tmp_path / "alice", sender="alice", port=port, password=token)
        with Initiator(config) as alice:
            alice.wait_logon()
            alice.send(*new_order("up-1", "BTC-USD", "buy", "0.5", "30000.10"))
            (ack,) = report(alice, "up-1", "0")
            assert ack[38] == "0.5"
            assert ack[44] == "30000.1"
            assert not alice.rejects_sent()
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=40) == 0
        assert not pid_running(int(str(entry["pid"]))), "the gateway stopped with dome up"
    finally:
        stop_process(up, signal.SIGINT, 30)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "--port must be 0..65535"),
        (["--accounts", "missing.json", "--discovery", "127.0.0.1:1"], "cannot read accounts"),
        (["--discovery", "a:1", "--target", "b:2"], "not both"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        [*DOME, "fix", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_without_an_exchange_it_says_how_to_name_one(tmp_path: Path) -> None:
    (tmp_path / ".dome").mkdir()
    (tmp_path / ".dome" / "tokens.json").write_text(json.dumps({"alice": "token-a"}))
    done = subprocess.run([*DOME, "fix"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pass --discovery or --target" in done.stderr
