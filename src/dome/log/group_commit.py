"""Group commit: many ``flush()`` callers, few fsyncs, and none of them on the event loop.

An fsync costs milliseconds; the sequencer appends a batch and then awaits durability
before acknowledging. Callers that wait at the same time share one fsync, and a caller
whose data was written after a running fsync started waits for the next one (that fsync
may not cover it). The fsync runs in a worker thread on a duplicate of the file
descriptor, so the journal may roll to a new segment and close the old descriptor while
it runs.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from dome.log.errors import FsyncFailed


class GroupCommit:
    """Counts writes and fsyncs; ``flush()`` returns once every earlier write is synced."""

    def __init__(self, current_fd: Callable[[], int], fsync: Callable[[int], None]) -> None:
        self._current_fd = current_fd
        self._fsync = fsync
        #: Writes so far; a flush waits until ``synced`` reaches the value it saw.
        self.written = 0
        #: Writes known durable.
        self.synced = 0
        self._running: asyncio.Future[None] | None = None
        #: Set once an fsync failed: the file's state is unknown from then on.
        self.failure: OSError | None = None

    def wrote(self) -> None:
        """Note one write that the next fsync must cover."""
        self.written += 1

    def all_synced(self) -> None:
        """Note that everything written is durable (the caller fsynced itself)."""
        self.synced = self.written

    async def flush(self) -> None:
        """Return once every write made before this call is durable.

        ``FsyncFailed`` if an fsync failed (now or earlier): after a failed fsync Linux
        may drop the dirty pages, so nothing written can be trusted to be on disk, and
        no later fsync may be taken to vouch for it.
        """
        target = self.written
        while self.synced < target:
            if self.failure is not None:
                raise FsyncFailed(f"an fsync failed earlier: {self.failure}")
            running = self._running
            if running is None:
                running = self._running = asyncio.ensure_future(self._sync())
            # shield: one waiter being cancelled must not cancel the fsync the others share
            await asyncio.shield(running)

    async def _sync(self) -> None:
        covered = self.written
        fd = os.dup(self._current_fd())
        try:
            await asyncio.to_thread(self._fsync, fd)
        except OSError as exc:
            self.failure = exc
            raise FsyncFailed(f"fsync failed: {exc}") from exc
        finally:
            os.close(fd)
            self._running = None
        self.synced = max(self.synced, covered)
