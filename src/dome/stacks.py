"""A stuck process tells where it is stuck: ``kill -USR1 PID`` prints every thread's stack.

DOME's servers mix an asyncio loop, gRPC's threads, the metrics page's thread and (in the
FIX gateway) QuickFIX's C++ threads calling into Python. When one of them stops answering,
the question is which thread holds what, and a debugger or py-spy is rarely at hand on a
production pod. ``faulthandler`` answers it from a C signal handler that needs neither the
GIL nor the event loop, so it works in exactly the states worth diagnosing (a thread stuck
in C with the GIL held, a blocked loop). The dump goes to stderr, where the process's log
goes; the process runs on.
"""

from __future__ import annotations

import faulthandler
import signal

#: Where the dump is written: the process's standard error, whatever sys.stderr is now.
STDERR_FD = 2
#: The signal that asks for the dump (SIGUSR1 is otherwise unused by DOME's processes).
DUMP_SIGNAL = signal.SIGUSR1


def dump_stacks_on_signal() -> None:
    """From now on, ``DUMP_SIGNAL`` writes every thread's Python stack to stderr."""
    # File descriptor 2, not sys.stderr: a replaced sys.stderr (a test's capture, a
    # redirect in code) may have no file descriptor, and the dump must reach the log.
    faulthandler.register(DUMP_SIGNAL, file=STDERR_FD, all_threads=True)
