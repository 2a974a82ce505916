"""Processes that end with the process that started them, even when it is SIGKILLed.

``dome up`` starts discovery and the engines in sessions of their own, so that Ctrl-C
reaches ``dome up`` alone and it can stop them in order. Killed with SIGKILL it has no
say, and they would run on as orphans holding ports and journals. A process started with
``PARENT_ENV`` set to its parent's pid asks Linux to send it SIGTERM when that parent
dies (``PR_SET_PDEATHSIG``): the same graceful stop ``dome up`` would have sent. The
request is made by the child itself at start-up rather than between fork and exec,
where running Python beside the parent's gRPC threads is not safe.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

#: Environment variable naming the pid whose death should stop this process.
PARENT_ENV = "DOME_STOP_WITH_PARENT"
#: ``prctl`` option: the signal this process gets when its parent thread exits.
_PR_SET_PDEATHSIG = 1


def child_environment(parent_pid: int | None = None) -> dict[str, str]:
    """The environment for a child that must stop when this process dies."""
    return {**os.environ, PARENT_ENV: str(parent_pid or os.getpid())}


def stop_with_parent() -> bool:
    """Honour ``PARENT_ENV`` if set; True when the parent's death will now stop us.

    Without the variable, off Linux, or with an unusable value, nothing changes: a
    process run by hand lives as long as its user wants.
    """
    wanted = os.environ.pop(PARENT_ENV, None)  # popped: not passed on to our children
    if not wanted or not sys.platform.startswith("linux"):
        return False
    try:
        parent = int(wanted)
        libc = ctypes.CDLL(None, use_errno=True)
    except (ValueError, OSError):
        return False
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:
        # The parent died before the request took effect: nobody will signal us.
        os.kill(os.getpid(), signal.SIGTERM)
    return True
