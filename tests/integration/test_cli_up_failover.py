"""``dome up`` as a local orchestrator: kill -9 an engine and the exchange keeps trading.

One real ``dome up --engines 3 --simulate 6`` runs for a fixed duration. Once its bots
trade, the engine leading the most symbols is killed with SIGKILL. Discovery must name
new primaries for its symbols, ``dome up`` must start the engine again (new pid in
``cluster.json``) and it must rejoin the in-sync replicas of its symbols; meanwhile the
bots, which reach the cluster through discovery rather than through one engine, go on
placing orders, and ``dome up`` still ends with exit 0 and its totals. Every wait is on
a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from dome.cli_commands.up import FATAL_GRACE_S
from dome.client.bots import STOP_GRACE_S
from dome.client.simulation import TIDY_UP_S
from dome.local.placement import PlacementUnavailable, fetch_placement_sync
from dome.local.supervisor import STOP_DEADLINE_S
from processes import pid_running, stop_process
from waiting import wait_for

pytestmark = pytest.mark.slow

ENGINES = ["engine-0", "engine-1", "engine-2"]
DURATION_S = 25


class Lines:
    """A pipe read on a thread: every line with the moment it arrived."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))

    def snapshot(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self.lines)

    def text(self) -> str:
        return "\n".join(line for _, line in self.snapshot())

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def _stop(up: subprocess.Popen[str]) -> None:
    """Stop ``dome up`` the way a user does, so it stops what it started in order (with
    SIGKILL they would only get their parent-death SIGTERM); kill it only if it hangs."""
    stop_process(up, signal.SIGINT, 30)


def _processes(data: Path) -> dict[str, dict[str, Any]]:
    try:
        return {p["id"]: p for p in json.loads((data / "cluster.json").read_text())["processes"]}
    except (OSError, ValueError):
        return {}


def _placement(discovery: str) -> dict[str, Any] | None:
    try:
        return fetch_placement_sync(discovery, timeout=2.0)
    except PlacementUnavailable:
        return None


def _orders(progress_line: str) -> int | None:
    """``orders=N`` of one of the view's ``t=... orders=N ...`` lines."""
    if not progress_line.startswith("t="):
        return None
    fields = dict(f.split("=", 1) for f in progress_line.split() if "=" in f)
    return int(fields["orders"])


def test_up_restarts_a_killed_engine_while_the_bots_keep_trading(tmp_path: Path) -> None:
    data = tmp_path / "state"
    argv = [sys.executable, "-m", "dome.cli", "up", "--engines", "3", "--simulate", "6",
            "--duration", str(DURATION_S), "--json", "--data-dir", str(data)]  # fmt: skip
    up = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = Lines(up.stderr)
    out = Lines(up.stdout)
    try:
        wait_for(lambda: len(_processes(data)) == 4 or up.poll() is not None, 60, "cluster.json")
        assert up.poll() is None, err.text()
        before = _processes(data)
        discovery = before["discovery"]["address"]

        # Trading runs: the bots' symbols advance.
        def trading() -> dict[str, Any] | None:
            doc = _placement(discovery)
            placed = doc is not None and all(s["primary"] for s in doc["symbols"].values())
            if doc and placed and sum(s["seq"] for s in doc["symbols"].values()) >= 100:
                return doc
            return None

        doc = wait_for(trading, 30, "the bots to trade")
        symbols = doc["symbols"]
        led = Counter(s["primary"] for s in symbols.values())

        def weight(engine: str) -> tuple[int, int]:
            busy = sum(1 for s in symbols.values() if s["primary"] == engine and s["seq"] > 0)
            return led[engine], busy

        victim = max(ENGINES, key=weight)
        lost = {name: s for name, s in symbols.items() if s["primary"] == victim}
        old_pid = before[victim]["pid"]
        seq_at_kill = {name: s["seq"] for name, s in symbols.items()}
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()

        # (a) discovery names new primaries for the victim's symbols: a later epoch with
        # a primary (a follower, or the restarted victim if it came back first: it
        # recovered every committed entry from its journal).
        def new_primaries() -> dict[str, str] | None:
            now = _placement(discovery)
            if now is None:
                return None
            taken = {n: now["symbols"][n] for n in lost}
            if all(s["primary"] and s["epoch"] > lost[n]["epoch"] for n, s in taken.items()):
                return {n: s["primary"] for n, s in taken.items()}
            return None

        wait_for(new_primaries, 15, f"new primaries for {sorted(lost)} (killed {victim})")
        assert up.poll() is None, err.text()

        # (b) dome up restarted it (new pid in cluster.json) and it is in sync again.
        def restarted() -> dict[str, Any] | None:
            entry = _processes(data).get(victim)
            return (
                entry if entry and entry["pid"] != old_pid and pid_running(entry["pid"]) else None
            )

        entry = wait_for(restarted, 20, f"{victim} to be restarted")
        assert entry["address"].startswith("127.0.0.1:")
        assert f"{victim} exited with -9; restarting it" in err.text()

        # Symbols no bot trades included: the restarted engine holds their whole log.
        def back_in_sync() -> bool:
            now = _placement(discovery)
            if now is None:
                return False
            me = next(e for e in now["engines"] if e["id"] == victim)
            if not me["alive"] or me["address"] != entry["address"]:
                return False
            return all(victim in now["symbols"][name]["in_sync"] for name in symbols)

        wait_for(back_in_sync, 20, f"{victim} back in the in-sync replicas of every symbol")

        # The replicas agree (checked while the bots still trade: replicas at one seq
        # compare hashes; --wait gives them a chance to stand at the same one).
        check_argv = [sys.executable, "-m", "dome.cli", "check", "--json", "--wait", "10",
                      "--data-dir", str(data)]  # fmt: skip
        check = subprocess.Popen(
            check_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

        # (c) trading went on: symbols that traded before the kill (on the killed
        # engine too) advanced, through their new primaries.
        traded = [name for name, seq in seq_at_kill.items() if seq > 0]
        assert traded

        def advanced() -> bool:
            now = _placement(discovery)
            return now is not None and all(
                now["symbols"][name]["seq"] >= seq_at_kill[name] + 20 for name in traded
            )

        wait_for(advanced, 15, f"{traded} to trade on after the kill")
        checked, check_err = check.communicate(timeout=30)
        assert check.returncode in (0, 4), check_err  # 4: never stood still under load
        verdict = json.loads(checked.strip().splitlines()[-1])
        assert verdict["consistent"] is True, verdict
        for name, s in verdict["symbols"].items():
            assert all(r["reachable"] for r in s["replicas"]), (name, s)
        assert up.poll() is None, "dome up ended before the checks were done: " + err.text()

        # dome up ends at its duration, with exit 0 and totals.
        assert up.wait(timeout=DURATION_S + 60) == 0, err.text()
        out.join(10)
        err.join(10)
    finally:
        _stop(up)
    totals = json.loads(out.text().strip().splitlines()[-1])
    assert DURATION_S - 0.5 <= totals["duration_s"] <= DURATION_S + 3
    counts = [(at, _orders(line)) for at, line in err.snapshot()]
    at_kill = max((n for at, n in counts if n is not None and at <= killed_at), default=0)
    after = [n for at, n in counts if n is not None and at > killed_at]
    assert after, "no orders counted after the kill"
    assert after == sorted(after)
    assert totals["orders"] > at_kill + 50, (totals, at_kill)
    # Everything it started is gone, the restarted engine included.
    for p in _processes(data).values():
        assert not pid_running(p["pid"]), p


def test_up_stops_everything_when_discovery_dies(tmp_path: Path) -> None:
    data = tmp_path / "state"
    argv = [sys.executable, "-m", "dome.cli", "up", "--engines", "1", "--simulate", "2",
            "--data-dir", str(data)]  # fmt: skip
    up = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(_processes(data)) == 2 or up.poll() is not None, 60, "cluster.json")
        assert up.poll() is None
        processes = _processes(data)
        os.kill(processes["discovery"]["pid"], signal.SIGKILL)
        # The product's own bound: noticing (FATAL_GRACE_S), the bots finishing a call in
        # flight (STOP_GRACE_S) and tidying up (TIDY_UP_S), then the engine gets
        # STOP_DEADLINE_S before SIGKILL (discovery, already dead, costs nothing), plus
        # 10 s for a loaded machine. Bots retrying each queued order for the client's
        # whole deadline once took 13-42 s here.
        bound = FATAL_GRACE_S + STOP_GRACE_S + TIDY_UP_S + STOP_DEADLINE_S + 10
        try:
            code = up.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            _stop(up)
            engine_log = (data / "engine-0.log").read_text(errors="replace")[-3000:]
            raise AssertionError(
                f"dome up still running {bound}s after discovery died\n"
                f"{up.stderr.read() if up.stderr else ''}\n--- engine-0\n{engine_log}"
            ) from None
        assert code == 1
        assert up.stderr is not None
        assert "dome: discovery exited with -9" in up.stderr.read()
    finally:
        _stop(up)
    assert not pid_running(processes["engine-0"]["pid"])  # no restart: the engine was stopped


def test_up_killed_takes_its_processes_with_it(tmp_path: Path) -> None:
    """SIGKILL gives dome up no say; its engines and discovery stop anyway, gracefully
    (they asked Linux for SIGTERM on their parent's death), instead of running on as
    orphans in their own sessions."""
    data = tmp_path / "state"
    argv = [sys.executable, "-m", "dome.cli", "up", "--engines", "2", "--data-dir",
            str(data)]  # fmt: skip
    up = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    processes: dict[str, dict[str, Any]] = {}
    try:
        wait_for(lambda: len(_processes(data)) == 3 or up.poll() is not None, 60, "cluster.json")
        assert up.poll() is None
        processes = _processes(data)
        up.kill()
        up.wait()
        pids = [p["pid"] for p in processes.values()]
        wait_for(lambda: not any(pid_running(pid) for pid in pids), 2 * STOP_DEADLINE_S,
                 "every process dome up started to stop")  # fmt: skip
        for name in ("engine-0", "engine-1"):
            assert '"msg": "engine stopped"' in (data / f"{name}.log").read_text(), name
    finally:
        for p in processes.values():  # orphans must not outlive a failed test
            if pid_running(p["pid"]):
                os.kill(p["pid"], signal.SIGKILL)
