"""The log's typed errors: what went wrong, and whether the caller can act on it.

The engine maps them to replication answers (a gap asks the primary for more, a stale
epoch is refused, compacted means fetch a snapshot), so each is its own type rather
than a message to parse.
"""

from __future__ import annotations


class LogFormatError(ValueError):
    """Bytes that are not a well-formed log batch or snapshot."""


class JournalError(Exception):
    """The journal refused an operation; the message says why."""


class FsyncFailed(JournalError):
    """An fsync of the journal failed: what it covered may never reach the disk.

    Never retried (PostgreSQL's fsync lesson): after a failed fsync Linux may drop the
    dirty pages and report success the next time, so the journal refuses every write
    from then on, and the engine stops the symbol until it is restarted and recovers
    from what the disk really holds.
    """


class JournalGap(JournalError):
    """A batch does not start right after the journal's last sequence number."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"batch starts at seq {got}, the journal expects {expected}")
        self.expected = expected
        self.got = got


class StaleEpoch(JournalError):
    """A batch comes from an epoch older than the journal's last one."""

    def __init__(self, current: int, got: int) -> None:
        super().__init__(f"batch of epoch {got} is older than the journal's epoch {current}")
        self.current = current
        self.got = got


class LogCompacted(JournalError):
    """The journal no longer holds the requested sequence number: use a snapshot."""

    def __init__(self, seq: int, first_seq: int) -> None:
        super().__init__(f"seq {seq} was compacted away; the journal starts at {first_seq}")
        self.seq = seq
        self.first_seq = first_seq


class JournalCorrupt(JournalError):
    """A record failed its check where the journal did not expect it (on read)."""


class RecoveryError(Exception):
    """Snapshot and journal do not fit together, so the state cannot be rebuilt here."""
