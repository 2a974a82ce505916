"""The suite's own process helpers: what a killed test session leaves behind.

A CI job that is cancelled kills pytest without teardown. Whatever a fixture started
(etcd, kube-apiserver, an operator, an engine) must not outlive it holding ports and
data directories: the next run on the machine would meet them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from processes import dying_with_parent, pid_running
from waiting import wait_for

# Stands for a test session: starts a long-lived grandchild as the fixtures do, prints
# its pid, and waits to be killed.
SESSION = (
    "import subprocess, sys, time\n"
    "from processes import dying_with_parent\n"
    "argv = ['sleep', '120']\n"
    "if sys.argv[1] == 'armed':\n"
    "    argv = dying_with_parent(argv)\n"
    "child = subprocess.Popen(argv)\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(120)\n"
)


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _orphan_after_session_killed(mode: str) -> int:
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    session = subprocess.Popen(
        [sys.executable, "-c", SESSION, mode],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": tests_dir},
    )
    assert session.stdout is not None
    grandchild = int(session.stdout.readline())
    # Popen returns once setpriv runs, before it has asked for the signal: killed then,
    # the session would leave an orphan that was never armed. Once sleep runs, setpriv
    # has asked (prctl, then exec).
    wait_for(lambda: _command(grandchild) == "sleep", 10, "the grandchild to exec sleep")
    session.send_signal(signal.SIGKILL)  # no teardown: a cancelled CI job
    session.wait(timeout=10)
    return grandchild


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_process_started_dying_with_parent_ends_with_a_killed_session() -> None:
    if dying_with_parent(["x"]) == ["x"]:
        pytest.skip("util-linux's setpriv is not installed")
    grandchild = _orphan_after_session_killed("armed")
    wait_for(lambda: not pid_running(grandchild), 10, "the orphan to get SIGTERM")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_pid_is_the_commands_own() -> None:
    # Tests kill -9 a component by its Popen pid: setpriv must exec, not fork.
    if dying_with_parent(["x"]) == ["x"]:
        pytest.skip("util-linux's setpriv is not installed")
    child = subprocess.Popen(dying_with_parent(["sleep", "120"]))
    try:
        wait_for(
            lambda: _command(child.pid) == "sleep",
            10,
            "setpriv to exec sleep",
        )
    finally:
        child.kill()
        child.wait()
