"""One symbol's journal: encoded batches appended to segment files, CRC-checked, in order.

Layout (``data_dir/<symbol>/``): ``journal-<first seq, 20 digits>.log`` segment files,
each a run of records (``dome.log.records``) whose payloads are encoded ``LogBatch``
bytes exactly as given, so a follower's journal holds the primary's bytes verbatim;
``epochs.json`` keeps the epoch history of compacted-away segments.

Writes go through ``os.write`` on a raw descriptor, with no buffering in this process:
once ``append`` returns, a ``kill -9`` loses nothing (the kernel has it); what survives a
power loss is decided by the fsync policy (``FsyncPolicy``) and ``flush``.

Opening scans every segment. A torn tail (the last record cut short by a crash) is
dropped with a warning. Anything else that does not check out (a CRC mismatch, bytes
that are not a batch, a sequence gap, an epoch going back) ends the journal at the last
good record: the error is logged with file, byte offset and reason, and the remainder
is moved aside to ``<segment>.corrupt-<offset>`` for inspection, never deleted. Nothing
after the last good record is returned or applied. ``read_only`` opening only reports
(``damage``) and changes nothing on disk, for tools like ``dome replay``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from dome import faults
from dome.log.durable import fsync_dir, write_atomic
from dome.log.entries import DecodedBatch, decode_batch
from dome.log.errors import (
    FsyncFailed,
    JournalCorrupt,
    JournalError,
    JournalGap,
    LogCompacted,
    LogFormatError,
    StaleEpoch,
)
from dome.log.group_commit import GroupCommit
from dome.log.records import HEADER, Stop, frame, scan

log = logging.getLogger("dome.log.journal")

#: A segment is closed and a new one started once it holds this many bytes.
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
_SEGMENT = re.compile(r"journal-(\d{20})\.log")
EPOCHS_FILE = "epochs.json"


class FsyncPolicy(StrEnum):
    """When appended records reach the disk (not only the kernel)."""

    #: Every ``append`` fsyncs before returning: slowest, nothing acknowledged is lost.
    ALWAYS = "always"
    #: ``flush()`` fsyncs, shared by everyone flushing at once (group commit).
    BATCH = "batch"
    #: Never fsync; the kernel writes back when it likes. Survives kill -9, not power loss.
    NONE = "none"


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


class _Segment:
    """One file's index: the first seq and byte offset of every record in it."""

    __slots__ = ("base", "offsets", "path", "size", "starts")

    def __init__(self, path: Path, base: int) -> None:
        self.path = path
        #: First seq this segment holds (or will hold, while empty).
        self.base = base
        self.starts = array("Q")
        self.offsets = array("Q")
        #: Bytes of good records.
        self.size = 0


def segment_path(directory: Path, base: int) -> Path:
    """Name of the segment whose first record starts at ``base``."""
    return directory / f"journal-{base:020d}.log"


class Journal:
    """The journal of one symbol in one directory. Not thread-safe: one owner task.

    Sequence numbers are continuous across segments; ``append`` refuses a gap
    (``JournalGap``) or an older epoch (``StaleEpoch``) and then writes nothing.
    """

    def __init__(
        self,
        directory: Path,
        fsync: FsyncPolicy,
        segment_bytes: int,
        read_only: bool,
    ) -> None:
        self.directory = directory
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.read_only = read_only
        self._segments: list[_Segment] = []
        self._last_seq = 0
        #: (epoch, first seq of that epoch), oldest first, compacted history included.
        self._epochs: list[tuple[int, int]] = []
        self._committed_seq = 0
        self._fd = -1
        self._closed = False
        self._commit = GroupCommit(self._current_fd, self._fsync_fd)
        #: What opening found wrong (torn tail or corruption), if anything.
        self.damage: JournalDamage | None = None

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: str | Path,
        fsync: FsyncPolicy = FsyncPolicy.BATCH,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        read_only: bool = False,
    ) -> Journal:
        """Open (creating if needed) the journal in ``directory`` and scan it.

        The batches it holds are decoded once while scanning; ``batches()`` decodes them
        again for replay.
        """
        journal = cls(Path(directory), FsyncPolicy(fsync), segment_bytes, read_only)
        if not read_only:
            journal.directory.mkdir(parents=True, exist_ok=True)
        journal._load()
        return journal

    def _load(self) -> None:
        history = self._read_epochs_file()
        files = sorted(
            (int(m.group(1)), p)
            for p in (self.directory.iterdir() if self.directory.is_dir() else ())
            if (m := _SEGMENT.fullmatch(p.name))
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
            segment = _Segment(path, base)
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
            self._segments.append(_Segment(segment_path(self.directory, seq), seq))
            if not self.read_only:
                self._segments[0].path.touch()
                fsync_dir(self.directory)
        first = self._segments[0].base
        self._epochs = [e for e in history if e[1] < first]
        for entry in scanned:
            if not self._epochs or self._epochs[-1][0] != entry[0]:
                self._epochs.append(entry)
        if not self.read_only:
            self._open_writer()

    def _read_epochs_file(self) -> list[tuple[int, int]]:
        path = self.directory / EPOCHS_FILE
        try:
            raw = json.loads(path.read_text())
            return [(int(e), int(s)) for e, s in raw["epochs"]]
        except FileNotFoundError:
            return []
        except (ValueError, KeyError, TypeError) as exc:
            raise JournalError(f"{path} is unreadable: {exc}") from None

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

    def _open_writer(self) -> None:
        segment = self._segments[-1]
        self._fd = os.open(segment.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if os.fstat(self._fd).st_size != segment.size:
            os.ftruncate(self._fd, segment.size)

    def _current_fd(self) -> int:
        return self._fd

    def _fsync_fd(self, fd: int) -> None:
        """``os.fsync`` of a journal file (the one place a test may inject an error)."""
        if faults.ARMED:
            faults.fsync(fd, self.directory)
        else:
            os.fsync(fd)

    def _sync(self) -> None:
        """Fsync the segment being written, here and now; a failure is final.

        ``FsyncFailed`` (and the journal refuses every later write) if it fails: the
        pages it covered may be gone, and a retry that succeeds would vouch for them.
        """
        try:
            self._fsync_fd(self._fd)
        except OSError as exc:
            self._commit.failure = exc
            log.critical(
                "journal fsync failed; the journal takes no more writes",
                extra={"directory": str(self.directory), "error": str(exc)},
            )
            raise FsyncFailed(f"journal {self.directory}: fsync failed: {exc}") from exc
        self._commit.all_synced()

    # -- state --------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """Sequence number of the last command held (0 when nothing was ever journaled)."""
        return self._last_seq

    @property
    def first_seq(self) -> int:
        """First sequence number still held (``last_seq + 1`` when empty)."""
        return self._segments[0].base

    @property
    def last_epoch(self) -> int:
        """Epoch of the last batch held (or of the history when empty); 0 if none."""
        return self._epochs[-1][0] if self._epochs else 0

    @property
    def failed(self) -> OSError | None:
        """The fsync error that stopped this journal, if one did (it then refuses writes)."""
        return self._commit.failure

    @property
    def committed_seq(self) -> int:
        """Highest ``committed_seq`` field of any batch journaled since opening or held."""
        return self._committed_seq

    def epochs(self) -> list[tuple[int, int]]:
        """(epoch, first seq of that epoch), oldest first, compacted history included."""
        return list(self._epochs)

    def end_of_epoch(self, epoch: int) -> int:
        """Largest seq in batches of epochs ``<= epoch``: a follower's truncation point.

        Kafka's leader-epoch end offset: a follower whose last batch has epoch ``e``
        keeps everything up to ``end_of_epoch(e)`` and drops the rest. The answer may lie
        below ``first_seq`` (compacted history); the follower then needs a snapshot.

        O(E) in the number of epochs, which only grow by failovers.
        """
        for next_epoch, first in self._epochs:
            if next_epoch > epoch:
                return min(first - 1, self._last_seq)
        return self._last_seq

    # -- writing ------------------------------------------------------------------------

    def append(self, data: bytes, batch: DecodedBatch) -> None:
        """Write one record holding ``data`` (the encoded ``batch``), at the end.

        Durable per policy: ``ALWAYS`` fsyncs here; ``BATCH`` on ``flush()``.
        """
        self._check_writable()
        if batch.first_seq != self._last_seq + 1:
            raise JournalGap(self._last_seq + 1, batch.first_seq)
        if batch.epoch < self.last_epoch:
            raise StaleEpoch(self.last_epoch, batch.epoch)
        segment = self._segments[-1]
        if segment.size >= self.segment_bytes and segment.starts:
            segment = self._roll(batch.first_seq)
        record = frame(data)
        try:
            written = os.write(self._fd, record)
            while written < len(record):
                written += os.write(self._fd, record[written:])
        except OSError:
            # A partial record must not stay: the next append would follow garbage.
            os.ftruncate(self._fd, segment.size)
            raise
        self._commit.wrote()
        segment.starts.append(batch.first_seq)
        segment.offsets.append(segment.size)
        segment.size += len(record)
        self._last_seq = batch.last_seq
        if not self._epochs or self._epochs[-1][0] != batch.epoch:
            self._epochs.append((batch.epoch, batch.first_seq))
        if batch.committed_seq > self._committed_seq:
            self._committed_seq = batch.committed_seq
        if self.fsync is FsyncPolicy.ALWAYS:
            # After indexing: the record is in the file either way, and a failure here
            # stops the journal for good, so the index must say what the file holds.
            self._sync()

    async def flush(self) -> None:
        """Make everything appended so far durable per policy.

        ``BATCH``: one fsync in a worker thread, shared by every concurrent caller; a
        flush that starts while an fsync runs waits for the next one. ``ALWAYS`` and
        ``NONE``: nothing to do.
        """
        if self.fsync is FsyncPolicy.BATCH:
            await self._commit.flush()

    def _roll(self, base: int) -> _Segment:
        """Close the full segment (durably, unless policy NONE) and start one at ``base``.

        The new file is opened before the old descriptor is closed: if that fails (a full
        disk), nothing changed and a later append tries again. Closing first used to
        leave the journal writing to a descriptor number the process may reuse.
        """
        if self.fsync is not FsyncPolicy.NONE:
            self._sync()
        if faults.ARMED:
            faults.crash("journal.roll")
        path = segment_path(self.directory, base)
        # O_TRUNC: a file of that name can only be a leftover the index does not hold.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
        os.close(self._fd)
        self._fd = fd
        segment = _Segment(path, base)
        self._segments.append(segment)
        if self.fsync is not FsyncPolicy.NONE:
            fsync_dir(self.directory)
        return segment

    def _check_writable(self) -> None:
        if self._closed:
            raise JournalError(f"journal {self.directory} is closed")
        if self.read_only:
            raise JournalError(f"journal {self.directory} is open read-only")
        if self._commit.failure is not None:
            raise FsyncFailed(
                f"journal {self.directory} failed to fsync ({self._commit.failure}); "
                "it takes no more writes until reopened"
            )

    # -- reading ------------------------------------------------------------------------

    def read_from(self, seq: int) -> Iterator[bytes]:
        """Raw records (encoded batches) holding ``seq`` or later, oldest first.

        ``LogCompacted`` if ``seq`` is below ``first_seq``. The records are those held
        when called (later appends are not included); do not truncate or compact while
        iterating. Each record's CRC is checked again (``JournalCorrupt``).
        """
        if seq < self.first_seq:
            raise LogCompacted(seq, self.first_seq)
        plan: list[tuple[Path, int, int]] = []
        if seq <= self._last_seq:
            bases = [s.base for s in self._segments]
            first = max(bisect_right(bases, seq) - 1, 0)
            for segment in self._segments[first:]:
                if not segment.starts:
                    continue
                index = max(bisect_right(segment.starts, seq) - 1, 0)
                plan.append((segment.path, segment.offsets[index], segment.size))
        return _read_records(plan)

    def batches(self, from_seq: int | None = None) -> Iterator[DecodedBatch]:
        """Decoded batches holding ``from_seq`` (default ``first_seq``) or later."""
        for data in self.read_from(self.first_seq if from_seq is None else from_seq):
            yield decode_batch(data)

    # -- trimming -----------------------------------------------------------------------

    def truncate_after(self, seq: int) -> None:
        """Drop every batch whose first seq is above ``seq`` (a follower's divergent tail).

        ``ValueError`` if ``seq`` falls inside a batch or below ``first_seq - 1``.
        Durable on return, whatever the policy.
        """
        self._check_writable()
        if seq >= self._last_seq:
            return
        if seq < self.first_seq - 1:
            raise ValueError(
                f"cannot truncate to seq {seq}: the journal starts at {self.first_seq}"
            )
        bases = [s.base for s in self._segments]
        index = max(bisect_right(bases, seq + 1) - 1, 0)
        segment = self._segments[index]
        position = bisect_left(segment.starts, seq + 1)
        if position < len(segment.starts) and segment.starts[position] != seq + 1:
            raise ValueError(f"seq {seq} falls inside a batch; truncate at a batch boundary")
        if position == len(segment.starts) and seq + 1 != self._next_base(index):
            raise ValueError(f"seq {seq} falls inside a batch; truncate at a batch boundary")
        if position == 0 and index > 0:
            index -= 1  # the cut falls on a segment boundary: keep the previous one whole
            segment = self._segments[index]
            position = len(segment.starts)
        os.close(self._fd)
        self._fd = -1
        # Newest first: a crash part way leaves a journal that is still continuous (a
        # longer tail, truncated again at the next rejoin), never a hole before a
        # segment that opening would have to move aside as corrupt.
        for later in reversed(self._segments[index + 1 :]):
            later.path.unlink()
            if faults.ARMED:
                faults.crash("journal.truncate")
        del self._segments[index + 1 :]
        cut = segment.offsets[position] if position < len(segment.starts) else segment.size
        del segment.starts[position:]
        del segment.offsets[position:]
        segment.size = cut
        if faults.ARMED:
            faults.crash("journal.truncate")
        os.truncate(segment.path, cut)
        self._open_writer()
        self._sync()
        fsync_dir(self.directory)
        self._last_seq = seq
        while self._epochs and self._epochs[-1][1] > seq:
            self._epochs.pop()

    def _next_base(self, index: int) -> int:
        if index + 1 < len(self._segments):
            return self._segments[index + 1].base
        return self._last_seq + 1

    def compact(self, upto_seq: int) -> int:
        """Delete whole segments holding only seqs ``<= upto_seq``; returns how many.

        Retention rule: the segment being written is never deleted, and nothing above
        ``upto_seq`` is. The caller passes ``min(newest durable snapshot's seq, the
        lowest seq a follower may still fetch - 1)``; a follower behind what remains gets
        ``LogCompacted`` and catches up from a snapshot. The epoch history of deleted
        segments is kept in ``epochs.json`` first, so ``end_of_epoch`` stays right.
        """
        self._check_writable()
        doomed = 0
        while doomed < len(self._segments) - 1 and self._segments[doomed + 1].base - 1 <= upto_seq:
            doomed += 1
        if not doomed:
            return 0
        self._write_epochs_file()
        # Oldest first: a crash part way leaves a continuous journal that starts later.
        for segment in self._segments[:doomed]:
            segment.path.unlink()
            if faults.ARMED:
                faults.crash("journal.compact")
        del self._segments[:doomed]
        fsync_dir(self.directory)
        return doomed

    def reset(self, seq: int, epochs: Sequence[tuple[int, int]]) -> None:
        """Drop everything and continue after ``seq`` (a snapshot was installed at ``seq``).

        ``epochs`` is the snapshot's epoch history; the next append must start at
        ``seq + 1``. Durable on return.
        """
        self._check_writable()
        self._epochs = [(int(e), int(s)) for e, s in epochs if s <= seq]
        self._write_epochs_file()
        os.close(self._fd)
        for segment in self._segments:
            segment.path.unlink()
        fsync_dir(self.directory)
        self._segments = [_Segment(segment_path(self.directory, seq + 1), seq + 1)]
        self._last_seq = seq
        self._open_writer()
        fsync_dir(self.directory)
        self._commit.all_synced()

    def _write_epochs_file(self) -> None:
        body = json.dumps({"version": 1, "epochs": self._epochs}, separators=(",", ":"))
        write_atomic(self.directory / EPOCHS_FILE, body.encode())

    def close(self) -> None:
        """Close the file; fsync first unless the policy is NONE. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._fd >= 0:
            try:
                if self.fsync is not FsyncPolicy.NONE and self._commit.failure is None:
                    self._sync()
            except FsyncFailed:
                pass  # logged by _sync; closing goes on, and the next open recovers
            finally:
                os.close(self._fd)
                self._fd = -1


def _read_records(plan: list[tuple[Path, int, int]]) -> Iterator[bytes]:
    unpack = HEADER.unpack
    for path, start, end in plan:
        with path.open("rb") as f:
            f.seek(start)
            offset = start
            while offset < end:
                header = f.read(HEADER.size)
                if len(header) < HEADER.size:
                    raise JournalCorrupt(f"{path} ends at byte {offset}, expected {end}")
                length, payload_crc, _ = unpack(header)
                payload = f.read(length)
                if len(payload) != length or zlib.crc32(payload) != payload_crc:
                    raise JournalCorrupt(f"{path}: record at byte {offset} fails its check")
                yield payload
                offset += HEADER.size + length
