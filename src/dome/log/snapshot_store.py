"""Where a symbol's snapshots live on disk: atomic saves, the newest two kept.

Two, not one: if the newest turns out unreadable (a disk error after the rename), the
engine restores the older one and replays more journal, which compaction kept for it
as long as compaction never passes the older snapshot's sequence number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from dome.log.durable import fsync_dir, write_atomic

_NAME = re.compile(r"snapshot-(\d{20})-(\d{1,20})\.json")
#: How many snapshots a store keeps.
KEEP = 2


class StoredSnapshot(NamedTuple):
    """One snapshot file's bytes and what its name says."""

    seq: int
    epoch: int
    data: bytes


class SnapshotStore:
    """Snapshot files ``snapshot-<seq>-<epoch>.json`` in one symbol's directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def save(self, data: bytes, seq: int, epoch: int) -> Path:
        """Write atomically and durably, then delete all but the newest ``KEEP``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"snapshot-{seq:020d}-{epoch}.json"
        write_atomic(path, data, crash_point="snapshot.write")
        stale = self._files()[KEEP:]
        for _, _, old in stale:
            old.unlink()
        if stale:
            fsync_dir(self.directory)
        return path

    def drop_after(self, seq: int) -> None:
        """Delete every snapshot above ``seq`` (durably): a history being replaced."""
        newer = [path for found, _, path in self._files() if found > seq]
        for path in newer:
            path.unlink()
        if newer:
            fsync_dir(self.directory)

    def latest(self) -> StoredSnapshot | None:
        """The newest snapshot, or None when there is none."""
        return next(self.newest_first(), None)

    def newest_first(self) -> Iterator[StoredSnapshot]:
        """Every kept snapshot, newest first (fall back to older ones if one is bad)."""
        for seq, epoch, path in self._files():
            yield StoredSnapshot(seq, epoch, path.read_bytes())

    def oldest_seq(self) -> int | None:
        """Sequence number of the oldest kept snapshot: how far compaction may go."""
        files = self._files()
        return files[-1][0] if files else None

    def _files(self) -> list[tuple[int, int, Path]]:
        if not self.directory.is_dir():
            return []
        found = [
            (int(m.group(1)), int(m.group(2)), p)
            for p in self.directory.iterdir()
            if (m := _NAME.fullmatch(p.name))
        ]
        return sorted(found, reverse=True)
