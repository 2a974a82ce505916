"""``dome up`` with a cluster, and the commands that look at one: placement, check, orders.

One ``dome up --engines 3`` (discovery plus three engine processes) serves the module;
client commands run as real subprocesses, some told the target, some finding it in the
``cluster.json`` of their working directory as a user's shell would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from client_helpers import dome, dome_json
from engine_harness import wait_for

from processes import pid_running, stop_process

SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]
ACCOUNTS = {"alice": "token-alice-0123456789", "bob": "token-bob-0123456789"}
ENGINES = ["engine-0", "engine-1", "engine-2"]


@dataclass
class UpCluster:
    """A running ``dome up``, its working directory and what it wrote to cluster.json."""

    proc: subprocess.Popen[str]
    cwd: Path
    processes: list[dict[str, Any]]

    def address(self, engine: str) -> str:
        return str(next(p["address"] for p in self.processes if p["id"] == engine))


def _instruments(path: Path) -> Path:
    specs = [{"symbol": s, "tick_size": "0.01", "lot_size": "1", "min_qty": "1",
              "max_qty": "1000000"} for s in SYMBOLS]  # fmt: skip
    path.write_text(json.dumps(specs))
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpCluster]:
    cwd = tmp_path_factory.mktemp("up")
    accounts = cwd / "accounts.json"
    accounts.write_text(json.dumps(ACCOUNTS))
    argv = [sys.executable, "-m", "dome.cli", "up", "--engines", "3", "--data-dir",
            str(cwd / ".dome"), "--accounts", str(accounts),
            "--instruments", str(_instruments(cwd / "instruments.json"))]  # fmt: skip
    up = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        record = cwd / ".dome" / "cluster.json"
        wait_for(lambda: record.exists() or up.poll() is not None, 60, "cluster.json")
        assert up.poll() is None, up.communicate()
        yield UpCluster(up, cwd, json.loads(record.read_text())["processes"])
    finally:
        stop_process(up, signal.SIGINT, 30)


def test_cluster_json_lists_discovery_and_three_engines(cluster: UpCluster) -> None:
    roles = [(p["role"], p["id"]) for p in cluster.processes]
    assert roles == [("discovery", "discovery"), *(("engine", e) for e in ENGINES)]
    for p in cluster.processes:
        assert set(p) == {"role", "id", "address", "pid", "metrics", "core", "peer"}
        assert p["core"] in (("native", "python") if p["role"] == "engine" else ("",))
        if p["role"] == "engine":  # replication has a port of its own (issue 13 item 5)
            assert p["peer"].startswith("127.0.0.1:")
            assert p["peer"] != p["address"]
        else:
            assert p["peer"] == ""
        assert p["address"].startswith("127.0.0.1:")
        assert p["metrics"].startswith("http://127.0.0.1:")
        assert pid_running(p["pid"])
    for engine in ENGINES:
        assert (cluster.cwd / ".dome" / engine).is_dir()


def test_placement_spreads_primaries(cluster: UpCluster) -> None:
    doc = dome_json("placement", cwd=cluster.cwd)
    assert sorted(doc["symbols"]) == SYMBOLS
    for symbol, placed in doc["symbols"].items():
        assert placed["primary"] in ENGINES, symbol
        assert placed["epoch"] >= 1
        assert isinstance(placed["seq"], int)
        assert sorted([placed["primary"], *placed["followers"]]) == ENGINES
    led = Counter(p["primary"] for p in doc["symbols"].values())
    assert set(led) == set(ENGINES)  # 4 symbols over 3 engines: each leads one or two
    assert [(e["id"], e["alive"]) for e in doc["engines"]] == [(e, True) for e in ENGINES]
    assert {e["address"] for e in doc["engines"]} == {cluster.address(e) for e in ENGINES}
    table = dome("placement", cwd=cluster.cwd)
    assert table.returncode == 0, table.stderr
    assert all(s in table.stdout for s in SYMBOLS)


def test_an_order_through_a_follower_reaches_the_primary(cluster: UpCluster) -> None:
    placed = dome_json("placement", cwd=cluster.cwd)["symbols"]["AAA"]
    follower = cluster.address(placed["followers"][0])
    order = dome_json("order", "--target", follower, "--token", ACCOUNTS["alice"],
                      "--symbol", "AAA", "--side", "sell", "--qty", "3", "--price", "10",
                      "--client-order-id", "via-follower")  # fmt: skip
    assert order["status"] == "new"
    # Found through ./.dome/cluster.json: routed to the primary by placement.
    fill = dome_json("order", "--token", ACCOUNTS["bob"], "--symbol", "AAA", "--side", "buy",
                     "--type", "ioc", "--qty", "2", "--price", "10", cwd=cluster.cwd)  # fmt: skip
    assert (fill["status"], fill["filled_qty"]) == ("filled", "2")
    book = dome_json("book", "--target", cluster.address(placed["primary"]), "--symbol", "AAA")
    assert book["asks"] == [["10", "1", 1]]
    mine = dome_json("orders", "--token", ACCOUNTS["alice"], "--symbol", "AAA", cwd=cluster.cwd)
    assert [(o["client_order_id"], o["remaining_qty"]) for o in mine] == [("via-follower", "1")]


def test_check_finds_replicas_consistent_after_orders(cluster: UpCluster) -> None:
    for i, symbol in enumerate(SYMBOLS):
        done = dome("order", "--token", ACCOUNTS["alice"], "--symbol", symbol, "--side", "buy",
                    "--qty", str(i + 1), "--price", "5", cwd=cluster.cwd)  # fmt: skip
        assert done.returncode == 0, done.stderr
    result = dome_json("check", "--wait", "20", cwd=cluster.cwd)
    assert result["consistent"] is True
    assert sorted(result["symbols"]) == SYMBOLS
    for symbol, s in result["symbols"].items():
        assert s["consistent"] is True
        assert sorted(r["engine"] for r in s["replicas"]) == ENGINES
        assert all(r["reachable"] for r in s["replicas"])
        assert len({r["seq"] for r in s["replicas"]}) == 1, symbol
        assert len({r["state_hash"] for r in s["replicas"]}) == 1, symbol
        assert s["replicas"][0]["seq"] >= 1
        assert Counter(r["role"] for r in s["replicas"]) == {"primary": 1, "follower": 2}


def test_placement_and_check_exit_codes(cluster: UpCluster, tmp_path: Path) -> None:
    nowhere = dome("placement", "--data-dir", str(tmp_path))
    assert nowhere.returncode == 2
    assert "no discovery" in nowhere.stderr
    closed = dome("check", "--discovery", "127.0.0.1:1", "--timeout", "2")
    assert closed.returncode == 1
    assert "cannot reach discovery" in closed.stderr
    direct = dome_json("placement", "--discovery", cluster.processes[0]["address"])
    assert sorted(direct["symbols"]) == SYMBOLS


def test_simulate_trades_through_discovery(cluster: UpCluster, tmp_path: Path) -> None:
    accounts = str(cluster.cwd / "accounts.json")
    # Found in ./.dome/cluster.json: discovery, so every order goes to its primary.
    found = dome_json("simulate", "--accounts", accounts, "--bots", "2", "--duration", "2",
                      cwd=cluster.cwd, timeout=60)  # fmt: skip
    assert found["orders"] > 0
    assert found["trades"] > 0
    told = dome_json("simulate", "--discovery", cluster.processes[0]["address"], "--accounts",
                     accounts, "--bots", "1", "--duration", "1", "--data-dir", str(tmp_path),
                     timeout=60)  # fmt: skip
    assert told["orders"] > 0
    both = dome("simulate", "--target", cluster.address("engine-0"), "--discovery",
                cluster.processes[0]["address"], "--accounts", accounts)  # fmt: skip
    assert both.returncode == 2
    nowhere = dome("simulate", "--accounts", accounts, "--data-dir", str(tmp_path), cwd=tmp_path)
    assert nowhere.returncode == 2
    assert "no exchange" in nowhere.stderr


def test_cancel_all_reaches_every_symbols_primary(cluster: UpCluster) -> None:
    bob = ("--token", ACCOUNTS["bob"])
    for symbol in SYMBOLS:  # the primaries are spread over the three engines
        placed = dome_json("order", *bob, "--symbol", symbol, "--side", "buy", "--qty", "1",
                           "--price", "1.5", cwd=cluster.cwd)  # fmt: skip
        assert placed["status"] == "new"
    cancelled = dome_json("cancel", *bob, "--all", cwd=cluster.cwd)
    assert [c["status"] for c in cancelled] == ["cancelled"] * len(SYMBOLS)
    for symbol in SYMBOLS:
        assert dome_json("orders", *bob, "--symbol", symbol, cwd=cluster.cwd) == []


def test_up_stops_every_process_on_sigint(cluster: UpCluster) -> None:
    cluster.proc.send_signal(signal.SIGINT)
    assert cluster.proc.wait(timeout=30) == 0
    for p in cluster.processes:
        with pytest.raises(ProcessLookupError):
            os.kill(p["pid"], 0)


def test_up_for_a_duration_runs_a_cluster_and_exits_0(tmp_path: Path) -> None:
    data = tmp_path / "state"
    totals = dome_json("up", "--engines", "3", "--simulate", "2", "--duration", "3",
                       "--data-dir", str(data), timeout=90)  # fmt: skip
    assert totals["orders"] > 0
    processes = json.loads((data / "cluster.json").read_text())["processes"]
    assert [(p["role"], p["id"]) for p in processes] == [
        ("discovery", "discovery"), *(("engine", e) for e in ENGINES)]  # fmt: skip
