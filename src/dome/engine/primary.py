"""The primary's half of a replica: commit batches, count acks, keep the in-sync set.

``commit`` is the sequencer's log stage (DESIGN.md section 5): the batch is encoded once,
journaled, pushed to every connected follower's session, and returns only when enough of
them have journaled it, with every batch that commit covers. A follower that stops acking
is dropped from the in-sync set through discovery *before* any batch is acknowledged
without it; one that catches up is waited for at once and recorded in sync after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from dome import faults
from dome.core.commands import Command
from dome.engine.errors import NotPrimary, Unavailable
from dome.engine.replica_state import ReplicaState, Role
from dome.log.entries import DecodedBatch, encode_batch
from dome.log.errors import FsyncFailed
from dome.v1 import replication_pb2 as rp

log = logging.getLogger("dome.engine.replica")

#: How long a required follower may lag a batch before the primary asks discovery to
#: drop it from the in-sync set (acks ``all``); a follower whose stream broke goes at once.
LAG_TIMEOUT = 1.0
#: Items a follower's outbound queue may hold before the primary cuts it off; it then
#: reconnects and catches up from the journal instead of growing the primary's memory.
SESSION_QUEUE_LIMIT = 20_000
#: Pause between attempts to record a caught-up follower as in sync.
JOIN_RETRY = 0.25


class FollowerSession:
    """The primary's side of one connected follower: what to send it, what it holds."""

    def __init__(self, follower_id: str, acked: int) -> None:
        self.follower_id = follower_id
        self.acked = acked
        self.closed = False
        self._items: deque[rp.ReplicateResponse] = deque()
        self._ready = asyncio.Event()

    def push(self, item: rp.ReplicateResponse) -> None:
        """Queue a message; a follower too far behind is cut off (it will catch up)."""
        if self.closed:
            return
        if len(self._items) >= SESSION_QUEUE_LIMIT:
            log.warning("follower cut off: too far behind", extra={"follower": self.follower_id})
            self.close()
            return
        self._items.append(item)
        self._ready.set()

    def close(self) -> None:
        """End the session; the stream handler returns."""
        self.closed = True
        self._items.clear()
        self._ready.set()

    async def take(self) -> list[rp.ReplicateResponse]:
        """Wait for messages and take all of them; [] once closed."""
        while not self._items and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        items = list(self._items)
        self._items.clear()
        return items


class PrimarySide(ReplicaState):
    """Replication as the symbol's primary: the log stage and the followers' sessions."""

    async def commit(
        self, commands: Sequence[Command], *, more_queued: bool = False
    ) -> list[Sequence[Command]]:
        """The sequencer's log stage: journal, replicate, wait for the acks.

        Returns every batch this commit makes committed and not applied yet, in log
        order, ending with ``commands``. A batch refused before it is journaled leaves
        the journal (and so ``next_seq``) unchanged. One that fails later (the lease
        lapsed or leadership moved while waiting for acks) stays journaled and shipped,
        in ``pending``: if this engine goes on leading the epoch, the next commit covers
        it and returns it first; if not, the new primary's log decides. Either way its
        submitters were told it failed, and their retries under the same client order
        id find it if it was applied. ``more_queued``: another batch follows at once,
        which then carries the commit mark (saving two messages per follower).
        """
        first = commands[0]
        epoch = self.epoch
        started = time.perf_counter()
        self.check_writable()
        data = encode_batch(self.symbol, epoch, commands, self.committed_seq)
        batch = DecodedBatch(
            self.symbol,
            epoch,
            first.seq,
            commands[-1].seq,
            first.timestamp_ns,
            self.committed_seq,
            tuple(commands),
        )
        try:
            self.journal.append(data, batch)
        except FsyncFailed as exc:
            raise self.fail(exc) from None
        except OSError as exc:
            # A full disk or an I/O error: the journal took nothing back (a partial record
            # is cut off), so the batch is refused whole and may be sent again.
            log.error(
                "journal write failed; batch refused",
                extra={"symbol": self.symbol, "seq": first.seq, "error": str(exc)},
            )
            raise Unavailable(
                f"{self.symbol}: the journal could not be written ({exc.strerror or exc}); "
                "nothing was applied, retry later"
            ) from None
        if faults.ARMED:
            faults.crash("primary.journaled")
        self.pending.append(batch)
        # Shipped before the local fsync, not after: the two overlap, and the client is
        # answered only once both are done, so neither order acknowledges what a crash
        # or a failed fsync can lose. Followers' journals may then hold a batch this
        # engine failed to make durable; it was never acknowledged, and if the next
        # primary commits it, the submitter's retry finds it by its client order id.
        message = rp.ReplicateResponse(batch=data)
        for session in self._sessions.values():
            session.push(message)
        if faults.ARMED:
            faults.crash("primary.shipped")
        try:
            await self.journal.flush()
        except FsyncFailed as exc:
            raise self.fail(exc) from None
        if faults.ARMED:
            faults.crash("primary.fsynced")
        await self._await_quorum(batch.last_seq, epoch)
        if faults.ARMED:
            faults.crash("primary.quorum")
        # Committed, and with it every earlier batch of this epoch's log.
        committed: list[Sequence[Command]] = []
        pending = self.pending
        while pending:
            earlier = pending.popleft()
            if earlier.last_seq > self.applied_seq:
                committed.append(earlier.commands)
        self.committed_seq = batch.last_seq
        if not more_queued:
            # Nothing else to ship soon: tell followers now. Under load the next batch
            # carries the commit mark instead.
            commit = rp.ReplicateResponse(committed_seq=batch.last_seq)
            for session in self._sessions.values():
                session.push(commit)
        if self._stats is not None:
            self._stats.observe_commit(time.perf_counter() - started, self._lag(batch.last_seq))
        self._snapshot_due()
        return committed

    def _lag(self, seq: int) -> int:
        required = self._required()
        if not required:
            return 0
        return max(seq - self._acked(f) for f in required)

    def _acked(self, follower_id: str) -> int:
        session = self._sessions.get(follower_id)
        return session.acked if session is not None and not session.closed else 0

    def _required(self) -> set[str]:
        return (self.in_sync | self._joining) - {self.engine_id}

    def _quorum(self, seq: int) -> bool:
        if self.acks == "majority":
            # Only in-sync followers count: discovery elects among in-sync replicas, so
            # an ack from one still catching up could be the only copy of an entry.
            replicas = 1 + len(self.followers)
            holding = 1 + sum(
                1 for f in self.followers if f in self.in_sync and self._acked(f) >= seq
            )
            return holding >= replicas // 2 + 1
        return all(self._acked(f) >= seq for f in self._required())

    async def _await_quorum(self, seq: int, epoch: int) -> None:
        started = time.monotonic()
        while True:
            self._progress.clear()
            if self.role is not Role.PRIMARY or self.epoch != epoch:
                raise NotPrimary(f"{self.symbol}: leadership changed before the batch committed")
            if not self._coordinator.lease_valid():
                raise Unavailable(f"{self.symbol}: lease lapsed before the batch committed")
            if self._quorum(seq):
                return
            if self.acks != "majority":
                slow = time.monotonic() - started > LAG_TIMEOUT
                laggards = {
                    f
                    for f in self._required()
                    if self._acked(f) < seq and (slow or f not in self._sessions)
                }
                if laggards:
                    self._spawn(self._shrink(laggards, epoch))
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancel that
            # lands as the event fires.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await self._progress.wait()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._isr_tasks.add(task)
        task.add_done_callback(self._isr_tasks.discard)

    async def _shrink(self, laggards: set[str], epoch: int) -> None:
        async with self._isr_lock:
            laggards = {f for f in laggards if f in self.in_sync or f in self._joining}
            if not laggards or self.role is not Role.PRIMARY or self.epoch != epoch:
                return
            new = sorted((self.in_sync - laggards) | {self.engine_id})
            log.warning(
                "dropping followers from the in-sync set",
                extra={"symbol": self.symbol, "followers": sorted(laggards), "epoch": epoch},
            )
            recorded = await self._coordinator.update_in_sync(self.symbol, epoch, new)
            if recorded and self.epoch == epoch:
                self.in_sync = set(new)
                self._joining -= laggards
                self._progress.set()

    async def _join(self, follower_id: str, epoch: int) -> None:
        """Record a caught-up follower as in sync, retrying while it stays connected.

        Discovery may refuse (a placement change raced the call), not answer in time, or
        this engine may not have seen the placement naming the follower yet. On an idle
        symbol no later ack would try again, so this keeps trying until it is recorded,
        the follower goes, or this engine stops leading the epoch.
        """
        try:
            while True:
                async with self._isr_lock:
                    session = self._sessions.get(follower_id)
                    if (
                        self.role is not Role.PRIMARY
                        or self.epoch != epoch
                        or follower_id in self.in_sync
                        or session is None
                        or session.closed
                    ):
                        return
                    if follower_id in self.followers:
                        new = sorted(self.in_sync | {follower_id, self.engine_id})
                        try:
                            recorded = await self._coordinator.update_in_sync(
                                self.symbol, epoch, new
                            )
                        except Exception:
                            log.warning(
                                "recording a follower in sync failed; retrying",
                                exc_info=True,
                                extra={"symbol": self.symbol, "follower": follower_id},
                            )
                            recorded = False
                        if recorded and self.epoch == epoch:
                            self.in_sync = set(new)
                            log.info(
                                "follower back in sync",
                                extra={"symbol": self.symbol, "follower": follower_id},
                            )
                            return
                        log.info(
                            "discovery did not record the follower in sync; retrying",
                            extra={"symbol": self.symbol, "follower": follower_id, "in_sync": new},
                        )
                await asyncio.sleep(JOIN_RETRY)
        finally:
            self._joining.discard(follower_id)
            self._progress.set()

    def _on_ack(self, session: FollowerSession, seq: int) -> None:
        session.acked = max(session.acked, seq)
        self._progress.set()
        f = session.follower_id
        if (
            self.role is Role.PRIMARY
            and f not in self.in_sync
            and f not in self._joining
            and seq >= self.journal.last_seq
        ):
            # Caught up: from now on every batch waits for it, even before discovery has
            # recorded it in sync, so it can never be recorded while missing an entry.
            self._joining.add(f)
            self._spawn(self._join(f, self.epoch))

    def start_point(self, sub: rp.ReplicateSubscribe) -> rp.ReplicateStart:
        """Where a subscribing follower continues; raises unless it may follow us."""
        self.check_writable_for_followers(sub)
        common = min(sub.last_seq, self.journal.end_of_epoch(sub.last_epoch))
        if sub.last_seq == 0:
            common = 0
        if common < self.journal.first_seq - 1:
            return rp.ReplicateStart(
                snapshot_required=True, epoch=self.epoch, committed_seq=self.committed_seq
            )
        return rp.ReplicateStart(
            truncate_to=common, epoch=self.epoch, committed_seq=self.committed_seq
        )

    def check_writable_for_followers(self, sub: rp.ReplicateSubscribe) -> None:
        """Refuse a subscriber unless we lead this epoch and it is one of our followers."""
        if self.role is not Role.PRIMARY or sub.epoch != self.epoch:
            raise NotPrimary(
                f"{self.symbol}: not the primary at epoch {sub.epoch} (this engine is "
                f"{self.role.value} at epoch {self.epoch}; primary {self.primary_id or 'none'})"
            )
        if sub.follower_id not in self.followers:
            raise NotPrimary(f"{self.symbol}: {sub.follower_id} is not a follower at this epoch")

    def open_session(self, follower_id: str, acked: int) -> tuple[FollowerSession, int]:
        """Register a follower's session; returns it and the journal end it starts after."""
        old = self._sessions.pop(follower_id, None)
        if old is not None:
            old.close()
        session = FollowerSession(follower_id, acked)
        self._sessions[follower_id] = session
        self._progress.set()
        return session, self.journal.last_seq

    def close_session(self, session: FollowerSession) -> None:
        """Forget a follower whose stream ended."""
        session.close()
        if self._sessions.get(session.follower_id) is session:
            del self._sessions[session.follower_id]
        self._progress.set()

    def on_ack(self, session: FollowerSession, seq: int) -> None:
        """A follower journaled everything up to ``seq``."""
        self._on_ack(session, seq)
