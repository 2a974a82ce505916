"""Fault injection for tests only: seeded crash points and injected fsync errors.

Nothing here is configured by a flag or a config file: only the environment of a test's
engine process arms it, and it is read once, when this module is first imported.

- ``DOME_CRASH_POINT="name:N[,name:N...]"``: the N-th time the process reaches the crash
  point ``name`` (``crash(name)``), it kills itself with SIGKILL, as ``kill -9`` would:
  no ``finally``, no atexit, no buffered write flushed. One line naming the point goes to
  stderr first (unbuffered), so a test can tell which point fired.
- ``DOME_CRASH_ONCE=path``: of all the processes given the same path, only the first to
  fire crashes (it creates ``path``; the others then never fire). A test arms every
  engine alike, because which one leads a symbol is only known once discovery placed
  it, and still loses exactly one engine.
- ``DOME_FSYNC_EIO_FILE=path``: while ``path`` exists, the first journal fsync after it
  appears of every symbol it lists (one per line) fails with ``EIO``; later ones succeed,
  as on Linux, which reports a writeback error once and then marks the lost pages clean.
  A file rather than a start-up value, because a test can only name the symbol whose
  primary should fail once discovery has placed it. This machine cannot make a disk fail
  for real: its kernel has no device-mapper (no ``dm-error``/``dm-flakey`` target), and
  while it has FUSE, a failing filesystem there would need libfuse and a binding that
  neither the machine nor the project carries.

Unarmed (the default, and always in production), ``ARMED`` is False and every call site
costs one attribute load and one branch: ``if faults.ARMED: faults.crash("...")``.

The crash points and where they sit (``POINTS``) are listed here so tests can iterate over
them and a typo in a name fails at start-up instead of silently never firing.
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

#: Every crash point, and the moment it marks.
POINTS: dict[str, str] = {
    "primary.journaled": "a batch written to the primary's journal, not shipped, not fsynced",
    "primary.shipped": "a batch shipped to the followers, the primary's fsync not done",
    "primary.fsynced": "the primary's fsync done, the followers' acks not all in",
    "primary.quorum": "the followers' acks in, the client not answered",
    "follower.journaled": "a follower journaled a batch and has not acked it",
    "journal.roll": "a full journal segment fsynced, the next one not created",
    "journal.truncate": "a truncation (follower rejoin) half done",
    "journal.compact": "a compaction half done: some old segments deleted",
    "snapshot.write": "half of a snapshot file written",
    "snapshot.install": "a follower saved a fetched snapshot, its journal not reset",
}

_CRASH_ENV = "DOME_CRASH_POINT"
_ONCE_ENV = "DOME_CRASH_ONCE"
_EIO_ENV = "DOME_FSYNC_EIO_FILE"


def _parse_crash(spec: str) -> dict[str, int]:
    """``"a:3,b:1"`` -> ``{"a": 3, "b": 1}``; ``ValueError`` for anything else."""
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, count = part.rpartition(":")
        if not sep or name not in POINTS or not count.isdigit() or int(count) < 1:
            raise ValueError(
                f"{_CRASH_ENV}: {part!r} is not <point>:<N >= 1>; points: {sorted(POINTS)}"
            )
        counts[name] = int(count)
    return counts


#: Crash points still armed, and how many more reaches until each fires.
_remaining: dict[str, int] = _parse_crash(os.environ.get(_CRASH_ENV, ""))
_once: str = os.environ.get(_ONCE_ENV, "")
_eio_file: Path | None = Path(os.environ[_EIO_ENV]) if os.environ.get(_EIO_ENV) else None
#: Symbols whose one injected fsync error was already delivered.
_eio_fired: set[str] = set()

#: True when anything is armed; call sites check it before calling in.
ARMED = bool(_remaining) or _eio_file is not None


def crash(name: str) -> None:
    """Kill this process now if ``name`` is armed and this is its N-th reach."""
    left = _remaining.get(name)
    if left is None:
        return
    if left > 1:
        _remaining[name] = left - 1
        return
    del _remaining[name]
    if _once:
        try:
            os.close(os.open(_once, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            return  # another process crashed first
    os.write(2, f'{{"event":"crash point reached","point":"{name}"}}\n'.encode())
    os.kill(os.getpid(), signal.SIGKILL)


def fsync(fd: int, directory: Path) -> None:
    """``os.fsync(fd)`` of a journal file in ``directory``, or the injected ``EIO``.

    ``directory`` is the symbol's journal directory (``<data>/<symbol>/journal``).
    """
    if _eio_file is not None:
        symbol = directory.parent.name if directory.name == "journal" else directory.name
        if symbol not in _eio_fired and symbol in _eio_symbols(_eio_file):
            _eio_fired.add(symbol)
            raise OSError(errno.EIO, f"injected fsync error ({_EIO_ENV})")
    os.fsync(fd)


def _eio_symbols(path: Path) -> set[str]:
    try:
        return {line.strip() for line in path.read_text().splitlines() if line.strip()}
    except FileNotFoundError:
        return set()
