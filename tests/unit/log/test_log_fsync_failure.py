"""A failed fsync stops the journal for good: never retried, whatever the policy.

After a failed fsync Linux may drop the dirty pages and succeed the next time, so a
journal that tried again would vouch for records the disk may not hold (PostgreSQL's
fsync lesson). Each test fails exactly one fsync and lets every later one succeed.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from log_helpers import command_batches, encoded

from dome.log.errors import FsyncFailed
from dome.log.journal import FsyncPolicy, Journal


class FailOnce:
    """Replaces ``os.fsync``: the ``at``-th call fails with EIO, every other one succeeds."""

    def __init__(self, at: int = 1) -> None:
        self.at = at
        self.calls = 0
        self.real = os.fsync

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.calls == self.at:
            raise OSError(errno.EIO, "Input/output error")
        self.real(fd)


def test_always_a_failed_fsync_refuses_every_later_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = encoded(command_batches(1, 30))
    journal = Journal.open(tmp_path, FsyncPolicy.ALWAYS)
    journal.append(*batches[0])
    monkeypatch.setattr(os, "fsync", FailOnce())
    with pytest.raises(FsyncFailed):
        journal.append(*batches[1])
    assert journal.failed is not None
    with pytest.raises(FsyncFailed):
        journal.append(*batches[2])  # the next fsync would succeed: it is not tried
    journal.close()
    monkeypatch.undo()
    # The record whose fsync failed is in the file and the index said so: reopening
    # finds a continuous journal, not a record the next append wrote over or after.
    again = Journal.open(tmp_path, FsyncPolicy.ALWAYS)
    assert again.damage is None
    assert again.last_seq == batches[1][1].last_seq
    again.append(*batches[2])
    again.close()


async def test_batch_a_failed_group_commit_is_final(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = encoded(command_batches(2, 30))
    journal = Journal.open(tmp_path, FsyncPolicy.BATCH)
    monkeypatch.setattr(os, "fsync", FailOnce())
    journal.append(*batches[0])
    with pytest.raises(FsyncFailed):
        await journal.flush()
    with pytest.raises(FsyncFailed):
        await journal.flush()
    with pytest.raises(FsyncFailed):
        journal.append(*batches[1])
    with pytest.raises(FsyncFailed):
        journal.truncate_after(0)
    journal.close()


def test_a_failed_fsync_while_rolling_a_segment_is_final(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = encoded(command_batches(3, 200))
    journal = Journal.open(tmp_path, FsyncPolicy.BATCH, segment_bytes=512)
    fail = FailOnce()
    monkeypatch.setattr(os, "fsync", fail)
    appended = 0
    while journal.segment_bytes > sum(len(data) for data, _ in batches[: appended + 1]):
        journal.append(*batches[appended])
        appended += 1
    journal.append(*batches[appended])  # fills the first segment
    with pytest.raises(FsyncFailed):
        journal.append(*batches[appended + 1])  # rolls: the full segment's fsync fails
    assert fail.calls == 1, "the roll's fsync was the first"
    with pytest.raises(FsyncFailed):
        journal.append(*batches[-1])
    journal.close()
