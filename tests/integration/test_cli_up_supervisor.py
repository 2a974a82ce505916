"""``Supervisor``, the part of ``dome up`` that restarts engines, on stand-in processes.

The stand-ins are tiny Python processes that write a ready file the way engines do (so
``respawn`` really spawns and waits for them) and then sleep, or crash once restarted:
the restart, the backoff bound and the fatal cases run in milliseconds.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from client_helpers import eventually

from dome.local.supervisor import (
    LocalCluster,
    LocalProcess,
    RestartPolicy,
    Supervisor,
    _spawn,
)

#: argv: READY COUNTER MODE. Counts its starts in COUNTER, writes READY, then sleeps;
#: in mode "crash-again" every start after the first exits 3 once ready.
STAND_IN = """
import json, os, sys, time
from pathlib import Path
ready, counter, mode = sys.argv[1:4]
starts = int(Path(counter).read_text() or 0) + 1 if Path(counter).exists() else 1
Path(counter).write_text(str(starts))
tmp = ready + ".tmp"
Path(tmp).write_text(json.dumps({"address": f"127.0.0.1:{starts}", "pid": os.getpid()}))
os.replace(tmp, ready)
if mode == "crash-again" and starts > 1:
    sys.exit(3)
time.sleep(600)
"""

FAST = RestartPolicy(first_delay=0.01, max_delay=0.05, max_restarts=3, window=60.0)


async def _stand_in(tmp: Path, name: str, mode: str = "sleep") -> LocalProcess:
    ready = tmp / f"{name}.ready.json"
    argv = [sys.executable, "-c", STAND_IN, str(ready), str(tmp / f"{name}.starts"), mode]
    return await _spawn(name, argv, ready, tmp / f"{name}.log")


def _starts(tmp: Path, name: str) -> int:
    return int((tmp / f"{name}.starts").read_text())


async def _kill(process: LocalProcess) -> None:
    process.proc.send_signal(signal.SIGKILL)
    await process.proc.wait()


async def test_an_engine_that_exits_is_restarted_and_discovery_exiting_is_fatal(
    tmp_path: Path,
) -> None:
    cluster = LocalCluster(await _stand_in(tmp_path, "discovery"))
    cluster.engines = [await _stand_in(tmp_path, "engine-0"), await _stand_in(tmp_path, "engine-1")]
    lines: list[str] = []
    back: list[LocalProcess] = []
    supervisor = Supervisor(cluster, log=lines.append, on_restart=back.append, policy=FAST)
    running = asyncio.create_task(supervisor.run())
    try:
        first = cluster.engines[0]
        await _kill(first)
        await eventually(lambda: back, "engine-0 restarted", within=10)
        again = cluster.engines[0]
        assert back == [again]
        assert again is not first
        assert again.name == "engine-0"
        assert again.argv == first.argv  # same id, data and options
        assert again.proc.returncode is None
        assert again.info["pid"] == again.proc.pid
        assert again.info["address"] == "127.0.0.1:2"  # a new address, as from --port 0
        assert _starts(tmp_path, "engine-0") == 2
        assert lines == [
            "engine-0 exited with -9; restarting it in 0.01s (the cluster keeps trading)",
            f"engine-0 is back at 127.0.0.1:2 (pid {again.proc.pid})",
        ]
        assert not running.done()
        assert cluster.engines[1].proc.returncode is None  # the other one was left alone

        assert cluster.discovery is not None
        await _kill(cluster.discovery)
        reason = await asyncio.wait_for(running, 10)
        assert reason.startswith("discovery exited with -9; see ")
        assert supervisor.reason == reason
        await asyncio.wait_for(supervisor.wait_fatal(), 1)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await cluster.stop()
    assert all(p.proc.returncode is not None for p in cluster.processes)


async def test_a_crash_loop_is_bounded_and_a_cluster_without_engines_is_fatal(
    tmp_path: Path,
) -> None:
    cluster = LocalCluster(await _stand_in(tmp_path, "discovery"))
    cluster.engines = [
        await _stand_in(tmp_path, "engine-0", "crash-again"),
        await _stand_in(tmp_path, "engine-1", "crash-again"),
    ]
    lines: list[str] = []
    supervisor = Supervisor(cluster, log=lines.append, policy=FAST)
    running = asyncio.create_task(supervisor.run())
    try:
        await _kill(cluster.engines[0])
        await eventually(lambda: supervisor.given_up, "engine-0 given up", within=10)
        assert supervisor.given_up == ["engine-0"]
        # The first start, then max_restarts restarts: none more.
        assert _starts(tmp_path, "engine-0") == 1 + FAST.max_restarts
        assert lines[0] == "engine-0 exited with -9; restarting it in 0.01s (the cluster " \
                           "keeps trading)"  # fmt: skip
        assert any("restarting it in 0.02s" in line for line in lines)  # the backoff doubles
        assert "leaving it down" in lines[-1]
        assert not running.done()  # engine-1 still runs: so does the cluster

        await _kill(cluster.engines[1])
        reason = await asyncio.wait_for(running, 10)
        assert reason == "every engine kept crashing; see their logs"
        assert supervisor.given_up == ["engine-0", "engine-1"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await cluster.stop()


async def test_a_cancelled_supervisor_restarts_nothing(tmp_path: Path) -> None:
    cluster = LocalCluster(None, [await _stand_in(tmp_path, "engine-0")])
    lines: list[str] = []
    supervisor = Supervisor(cluster, log=lines.append, policy=FAST)
    running = asyncio.create_task(supervisor.run())
    await asyncio.sleep(0)  # one turn of the loop (not a timed wait): it starts watching
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await cluster.stop()  # as dome up does on shutdown: an exit now is no crash
    assert lines == []
    assert _starts(tmp_path, "engine-0") == 1
    assert supervisor.reason is None
