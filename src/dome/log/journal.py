"""One symbol's journal: encoded batches appended to segment files, CRC-checked, in order.

Layout (``data_dir/<symbol>/``): ``journal-<first seq, 20 digits>.log`` segment files,
each a run of records (``dome.log.records``) whose payloads are encoded ``LogBatch``
bytes exactly as given, so a follower's journal holds the primary's bytes verbatim;
``epochs.json`` keeps the epoch history of compacted-away segments.

Writes go through ``os.write`` on a raw descriptor, with no buffering in this process:
once ``append`` returns, a ``kill -9`` loses nothing (the kernel has it); what survives a
power loss is decided by the fsync policy (``FsyncPolicy``) and ``flush``.

Opening scans every segment and repairs what a crash left (``journal_scan``): the
writer starts from the index of what is good. ``read_only`` opening only reports
(``damage``) and changes nothing on disk, for tools like ``dome replay``.
"""

from __future__ import annotations

import logging
import os
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path

from dome import faults
from dome.log.durable import fsync_dir
from dome.log.entries import DecodedBatch, decode_batch
from dome.log.errors import (
    FsyncFailed,
    JournalCorrupt,
    JournalError,
    JournalGap,
    LogCompacted,
    StaleEpoch,
)
from dome.log.group_commit import GroupCommit
from dome.log.journal_scan import JournalDamage, scan_journal
from dome.log.records import HEADER, frame
from dome.log.segments import Segment, segment_path, write_epochs_file

log = logging.getLogger("dome.log.journal")

#: A segment is closed and a new one started once it holds this many bytes.
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024


class FsyncPolicy(StrEnum):
    """When appended records reach the disk (not only the kernel)."""

    #: Every ``append`` fsyncs before returning: slowest, nothing acknowledged is lost.
    ALWAYS = "always"
    #: ``flush()`` fsyncs, shared by everyone flushing at once (group commit).
    BATCH = "batch"
    #: Never fsync; the kernel writes back when it likes. Survives kill -9, not power loss.
    NONE = "none"


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
        self._segments: list[Segment] = []
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
        found = scan_journal(self.directory, read_only=self.read_only)
        self._segments = found.segments
        self._last_seq = found.last_seq
        self._epochs = found.epochs
        self._committed_seq = found.committed_seq
        self.damage = found.damage
        if not self.read_only:
            self._open_writer()

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

    def _roll(self, base: int) -> Segment:
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
        segment = Segment(path, base)
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
        self._segments = [Segment(segment_path(self.directory, seq + 1), seq + 1)]
        self._last_seq = seq
        self._open_writer()
        fsync_dir(self.directory)
        self._commit.all_synced()

    def _write_epochs_file(self) -> None:
        write_epochs_file(self.directory, self._epochs)

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
