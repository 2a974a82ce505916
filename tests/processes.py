"""Stopping the real processes tests start, and asking whether one still runs."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any


def stop_process(
    process: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 15.0
) -> int:
    """Send ``sig`` (the process's graceful stop), wait ``grace`` s, then SIGKILL.

    Returns the exit code; a process already gone is left as it is.
    """
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.wait()  # the exit code, at once: the process has ended


def pid_running(pid: int) -> bool:
    """True while ``pid`` runs: a zombie (dead, waiting to be reaped, perhaps by an init
    that never does) is not running, though ``kill(pid, 0)`` still finds it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
