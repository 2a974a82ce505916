"""Stopping the real processes tests start, and asking whether one still runs."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

#: util-linux's ``setpriv``, which can set the parent-death signal and then exec a command.
_SETPRIV = shutil.which("setpriv")


def dying_with_parent(argv: list[str]) -> list[str]:
    """``argv`` run so that it gets SIGTERM when the thread that starts it ends.

    A test session that is itself killed (a CI job cancelled, a SIGTERM to pytest) runs
    no teardown; the etcd, kube-apiserver or engine it started would run on as orphans
    holding ports and data directories. Binaries we cannot change (the Go control plane)
    cannot ask for ``PR_SET_PDEATHSIG`` themselves, so ``setpriv`` asks before it execs
    them: the pid stays the command's own, and the request survives the exec. The signal
    follows the *thread* that forked, so start long-lived processes from a thread that
    lives as long as they should (the main thread, or the local kubelet's).
    """
    if _SETPRIV is None:
        return argv
    return [_SETPRIV, "--pdeathsig", "TERM", "--", *argv]


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
