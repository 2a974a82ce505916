"""Small durable file operations: what "written" means when the power may go.

A rename or a new file is only durable once its directory is synced, and a file's bytes
once the file is; an atomic replace is write-temp, fsync, rename, fsync-directory. Kept in
one place so the journal and the snapshot store cannot each get it slightly wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

from dome import faults


def fsync_dir(directory: Path) -> None:
    """Make creations, renames and deletions inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, crash_point: str = "") -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file whole.

    ``crash_point``: the fault-injection point (``dome.faults``) halfway through the write.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            view = memoryview(data)
            half = len(view) // 2
            while len(view) > half:
                view = view[os.write(fd, view[: len(view) - half]) :]
            if crash_point and faults.ARMED:
                faults.crash(crash_point)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        # A half-written temporary file (a full disk) would only keep the disk full.
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    fsync_dir(path.parent)
