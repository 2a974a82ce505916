"""Group commit: concurrent flushes share an fsync; a flush that starts during an fsync
waits for the next one; no fsync runs on the event loop."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest
from log_helpers import command_batches, encoded

from dome.log.errors import JournalError
from dome.log.journal import FsyncPolicy, Journal

DEADLINE = 10.0


class GatedFsync:
    """Replaces ``os.fsync``: counts calls, records the thread, blocks until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: set[int] = set()
        self.entered = threading.Semaphore(0)
        self.release = threading.Semaphore(0)
        self.gated = True
        self.real = os.fsync

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.threads.add(threading.get_ident())
        self.entered.release()
        if self.gated:
            assert self.release.acquire(timeout=DEADLINE), "fsync never released"
        self.real(fd)


async def _entered(gate: GatedFsync) -> None:
    assert await asyncio.to_thread(gate.entered.acquire, True, DEADLINE), "no fsync started"


@pytest.fixture
def gate() -> GatedFsync:
    return GatedFsync()


def open_journal(
    directory: Path, policy: FsyncPolicy, gate: GatedFsync, monkeypatch: pytest.MonkeyPatch
) -> Journal:
    """Open first (opening syncs the directory on this thread), then gate fsync."""
    journal = Journal.open(directory, policy)
    monkeypatch.setattr(os, "fsync", gate)
    return journal


async def test_concurrent_flushes_share_one_fsync(
    tmp_path: Path, gate: GatedFsync, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = open_journal(tmp_path, FsyncPolicy.BATCH, gate, monkeypatch)
    for data, batch in encoded(command_batches(1, 30)):
        journal.append(data, batch)
    gate.gated = False
    await asyncio.wait_for(asyncio.gather(*(journal.flush() for _ in range(20))), DEADLINE)
    assert gate.calls == 1
    assert threading.get_ident() not in gate.threads
    await journal.flush()  # nothing new: no fsync at all
    assert gate.calls == 1


async def test_a_flush_during_an_fsync_waits_for_the_next(
    tmp_path: Path, gate: GatedFsync, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = encoded(command_batches(2, 40))
    journal = open_journal(tmp_path, FsyncPolicy.BATCH, gate, monkeypatch)
    journal.append(*entries[0])
    first = asyncio.ensure_future(journal.flush())
    await _entered(gate)  # fsync #1 is running and may not cover what follows
    journal.append(*entries[1])
    late = [asyncio.ensure_future(journal.flush()) for _ in range(5)]
    await asyncio.sleep(0)  # one turn of the loop: the late flushes start and wait
    assert not any(f.done() for f in late)
    gate.release.release()
    await asyncio.wait_for(first, DEADLINE)
    await _entered(gate)  # fsync #2 starts for the late flushes, one for all five
    assert not any(f.done() for f in late)
    gate.release.release()
    await asyncio.wait_for(asyncio.gather(*late), DEADLINE)
    assert gate.calls == 2


async def test_a_flush_with_nothing_new_rides_the_running_fsync(
    tmp_path: Path, gate: GatedFsync, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = open_journal(tmp_path, FsyncPolicy.BATCH, gate, monkeypatch)
    journal.append(*encoded(command_batches(3, 3))[0])
    first = asyncio.ensure_future(journal.flush())
    await _entered(gate)
    second = asyncio.ensure_future(journal.flush())
    gate.release.release()
    await asyncio.wait_for(asyncio.gather(first, second), DEADLINE)
    assert gate.calls == 1


@pytest.mark.parametrize("policy", [FsyncPolicy.ALWAYS, FsyncPolicy.NONE])
async def test_flush_is_free_under_always_and_none(
    tmp_path: Path, gate: GatedFsync, policy: FsyncPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate.gated = False
    journal = open_journal(tmp_path, policy, gate, monkeypatch)
    before = gate.calls
    journal.append(*encoded(command_batches(4, 3))[0])
    after_append = gate.calls
    await journal.flush()
    assert gate.calls == after_append
    assert after_append - before == (1 if policy is FsyncPolicy.ALWAYS else 0)


async def test_a_failed_fsync_poisons_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = encoded(command_batches(5, 10))
    journal = Journal.open(tmp_path, FsyncPolicy.BATCH)
    journal.append(*entries[0])

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(JournalError, match="fsync failed"):
        await journal.flush()
    with pytest.raises(JournalError, match="failed to fsync"):
        journal.append(*entries[1])
