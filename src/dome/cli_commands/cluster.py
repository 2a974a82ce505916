"""Local exchange processes for ``dome up``: start engines, know when they serve, stop them.

An engine announces itself by writing a ready file (its address, pid, metrics URL) once
its server listens, so ``dome up`` waits on that fact with a deadline rather than on a
guess. Engines run in their own session: Ctrl-C reaches ``dome up`` alone, which then
stops them in order and can report cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: How long an engine may take from spawn to serving.
START_DEADLINE_S = 30.0
#: How long an engine may take to stop after SIGTERM before it is killed.
STOP_DEADLINE_S = 10.0


class ClusterError(Exception):
    """A process did not come up; the message says which and where its log is."""


@dataclass
class LocalProcess:
    """One spawned process and what it announced in its ready file."""

    proc: asyncio.subprocess.Process
    info: dict[str, Any]
    log_path: Path

    async def wait_exit(self) -> None:
        """Return when the process has exited (for watching it while it should run)."""
        await self.proc.wait()

    async def stop(self) -> int:
        """SIGTERM, wait with a deadline, then SIGKILL; returns the exit code."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                return await asyncio.wait_for(self.proc.wait(), STOP_DEADLINE_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
        return await self.proc.wait()


async def start_engine(
    engine_id: str,
    *,
    instruments: Path,
    accounts: Path,
    data_dir: Path,
    extra_args: Sequence[str] = (),
) -> LocalProcess:
    """Spawn ``python -m dome.engine`` and wait until its ready file says it serves.

    ``extra_args`` are more engine options (the engine benchmark lifts the rate limit).
    """
    ready = data_dir / f"{engine_id}.ready.json"
    ready.unlink(missing_ok=True)
    log_path = data_dir / f"{engine_id}.log"
    argv = [
        sys.executable,
        "-m",
        "dome.engine",
        "--id",
        engine_id,
        "--port",
        "0",
        "--metrics-port",
        "0",
        "--instruments",
        str(instruments),
        "--accounts",
        str(accounts),
        "--data-dir",
        str(data_dir / engine_id),
        "--ready-file",
        str(ready),
        *extra_args,
    ]
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    process = LocalProcess(proc, {}, log_path)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_DEADLINE_S
    while loop.time() < deadline:
        if proc.returncode is not None:
            raise ClusterError(f"{engine_id} exited with {proc.returncode}; see {log_path}")
        info = _read_ready(ready)
        if info is not None:
            process.info = info
            return process
        await asyncio.sleep(0.05)
    await process.stop()
    raise ClusterError(f"{engine_id} did not serve within {START_DEADLINE_S:.0f}s; see {log_path}")


def _read_ready(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # not there yet, or half written
    return info if isinstance(info, dict) and info.get("address") else None


def cluster_record(processes: list[LocalProcess]) -> dict[str, Any]:
    """``cluster.json``: what runs where, in the ready files' own words."""
    keys = ("role", "id", "address", "pid", "metrics")
    return {"processes": [{k: p.info.get(k) for k in keys} for p in processes]}
