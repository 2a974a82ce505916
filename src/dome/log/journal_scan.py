"""Opening a journal: scan every segment, drop a torn tail, move corruption aside.

A torn tail (the last record cut short by a crash) is dropped with a warning. Anything
else that does not check out (a CRC mismatch, bytes that are not a batch, a sequence
gap, an epoch going back) ends the journal at the last good record: the error is logged
with file, byte offset and reason, and the remainder is moved aside to
``<segment>.corrupt-<offset>`` for inspection, never deleted. Nothing after the last good
record is returned or applied. A ``read_only`` scan only reports (``damage``) and
changes nothing on disk, for tools like ``dome replay``.

The scan is apart from the writer (``journal``): it runs once, before the first write,
and hands the writer the index of what is good.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from dome.log.durable import fsync_dir, write_atomic
from dome.log.entries import decode_batch
from dome.log.errors import LogFormatError
from dome.log.records import HEADER, Stop, scan
from dome.log.segments import SEGMENT_NAME, Segment, read_epochs_file, segment_path

# The journal's one logger: what opening found is the journal's news, wherever it is found.
log = logging.getLogger("dome.log.journal")


class JournalDamage(NamedTuple):
    """What opening found wrong, where, and (unless read-only) where it was moved."""

    path: Path
    offset: int
    reason: str
    #: True for a torn tail (an interrupted write), False for corruption.
    torn: bool
    #: Where the bad remainder now is; None if dropped (torn) or left alone (read-only).
    moved_to: Path | None

    def describe(self) -> str:
        """One line for logs and stderr."""
        what = "torn tail" if self.torn else "corrupt record"
        where = f" (moved to {self.moved_to.name})" if self.moved_to else ""
        return f"{what} in {self.path} at byte {self.offset}: {self.reason}{where}"


class ScannedJournal(NamedTuple):
    """What a journal directory holds once opening has checked (and repaired) it."""

    #: The good segments, oldest first; never empty (a fresh journal has one, empty).
    segments: list[Segment]
    last_seq: int
    #: (epoch, first seq of that epoch), oldest first, compacted history included.
    epochs: list[tuple[int, int]]
    #: Highest ``committed_seq`` field of any batch held.
    committed_seq: int
    #: What was found wrong (torn tail or corruption), if anything.
    damage: JournalDamage | None


def scan_journal(directory: Path, *, read_only: bool) -> ScannedJournal:
    """Scan ``directory``'s segments; unless ``read_only``, repair what is found."""
    return _Scan(directory, read_only).run()


class _Scan:
    def __init__(self, directory: Path, read_only: bool) -> None:
        self.directory = directory
        self.read_only = read_only
        self._segments: list[Segment] = []
        self._last_seq = 0
        self._committed_seq = 0
        self.damage: JournalDamage | None = None

    def run(self) -> ScannedJournal:
        history = read_epochs_file(self.directory)
        files = sorted(
            (int(m.group(1)), p)
            for p in (self.directory.iterdir() if self.directory.is_dir() else ())
            if (m := SEGMENT_NAME.fullmatch(p.name))
        )
        seq = files[0][0] if files else 1
        # The file covers compacted segments; what is still held is scanned.
        history = [e for e in history if e[1] < seq]
        epoch = history[-1][0] if history else 0
        scanned: list[tuple[int, int]] = []
        for index, (base, path) in enumerate(files):
            last_file = index == len(files) - 1
            if base != seq:
                self._damaged(files[index:], 0, f"starts at seq {base}, expected {seq}")
                break
            segment = Segment(path, base)
            data = path.read_bytes()
            result = scan(data)
            problem = result.stop
            for offset, payload in result.records:
                try:
                    batch = decode_batch(payload)
                except LogFormatError as exc:
                    problem = Stop(offset, f"undecodable batch: {exc}", False)
                    break
                if batch.first_seq != seq:
                    problem = Stop(
                        offset, f"batch starts at seq {batch.first_seq}, not {seq}", False
                    )
                    break
                if batch.epoch < epoch:
                    problem = Stop(offset, f"epoch {batch.epoch} follows epoch {epoch}", False)
                    break
                if batch.epoch != epoch:
                    epoch = batch.epoch
                    scanned.append((epoch, batch.first_seq))
                segment.starts.append(seq)
                segment.offsets.append(offset)
                segment.size = offset + HEADER.size + len(payload)
                seq = batch.last_seq + 1
                if batch.committed_seq > self._committed_seq:
                    self._committed_seq = batch.committed_seq
            self._last_seq = seq - 1
            if problem is not None and not (problem.torn and last_file):
                if segment.starts:  # the good records before the damage stay
                    self._segments.append(segment)
                self._damaged(files[index:], problem.offset, problem.reason)
                break
            if segment.starts or last_file or not self._segments:
                self._segments.append(segment)
            elif not self.read_only:
                path.unlink()  # an empty segment between two others holds nothing
            if problem is not None:
                self._torn(path, problem.offset, problem.reason)
        if not self._segments:
            self._segments.append(Segment(segment_path(self.directory, seq), seq))
            if not self.read_only:
                self._segments[0].path.touch()
                fsync_dir(self.directory)
        first = self._segments[0].base
        epochs = [e for e in history if e[1] < first]
        for entry in scanned:
            if not epochs or epochs[-1][0] != entry[0]:
                epochs.append(entry)
        return ScannedJournal(
            self._segments, self._last_seq, epochs, self._committed_seq, self.damage
        )

    def _torn(self, path: Path, offset: int, reason: str) -> None:
        self.damage = JournalDamage(path, offset, reason, True, None)
        log.warning("journal: dropping %s", self.damage.describe())
        if not self.read_only:
            os.truncate(path, offset)

    def _damaged(self, files: Sequence[tuple[int, Path]], offset: int, reason: str) -> None:
        """End the journal at ``offset`` of ``files[0]``: move the rest aside, keep it.

        A segment damaged at byte 0 moves aside whole, as does every later segment.
        """
        path = files[0][1]
        moved: Path | None = None
        if not self.read_only:
            moved = path.with_name(f"{path.name}.corrupt-{offset}")
            if offset:
                write_atomic(moved, path.read_bytes()[offset:])
                os.truncate(path, offset)
            else:
                path.rename(moved)
            for _, later in files[1:]:
                later.rename(later.with_name(f"{later.name}.corrupt-0"))
            fsync_dir(self.directory)
        self.damage = JournalDamage(path, offset, reason, False, moved)
        log.error("journal: %s; the journal ends at seq %d", self.damage.describe(), self._last_seq)
