"""One symbol's log on one engine: primary, follower, or waiting for an election.

Discovery decides who leads (DESIGN.md section 3); this class carries out its decision
for one symbol, safely:

- **Primary.** This is the sequencer's log stage: ``commit`` encodes the batch once,
  journals it, pushes it to every connected follower, and returns only when enough of
  them have journaled it (acks ``all``: every in-sync follower; ``majority``: a
  majority of the replica set, this engine included), with every batch that commit
  covers. Only then does the sequencer apply them and answer the clients. A follower
  that stops acking is dropped from the in-sync set through discovery *before* any
  batch is acknowledged without it.
- **Follower.** A task pulls the primary's log over ``Replicate``, journals each batch
  byte for byte, acks, and applies batches only once the primary says they are
  committed, so nothing a follower publishes can be rolled back by a failover.
- **Electing.** A new epoch without a primary: stop taking the old epoch's entries
  (the follow task is cancelled synchronously, before discovery hears our report) and
  report the journal's end.

Every journaled batch that is not applied yet sits in ``pending``. When this engine is
promoted, its whole journal becomes the new epoch's log and ``pending`` is applied;
followers whose journal holds entries the new primary lacks are told to truncate them.
Those entries were never committed, so never applied or answered anywhere.

Fencing: writes need ``coordinator.lease_valid()``. An engine that cannot renew its lease
stops taking writes before discovery may promote anyone else. The engine admits writes
once (``EngineNode.submit`` asks ``writable``); ``commit`` checks again only as the log's
own fence, because leadership can lapse between admission and the journal write, and an
append after that could fork the log.

Calls run one way: the sequencer calls ``commit``; this class hands committed batches to
the ``Applier`` (followers, promotion) and never calls back into the sequencer.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import grpc

from dome.core.commands import Command
from dome.engine.applier import Applier
from dome.engine.errors import NotPrimary, Unavailable
from dome.engine.peers import Peers
from dome.log.entries import DecodedBatch, decode_batch, encode_batch
from dome.log.errors import JournalGap, LogFormatError, StaleEpoch
from dome.log.journal import Journal
from dome.v1 import discovery_pb2 as ds
from dome.v1 import replication_pb2 as rp
from dome.v1 import replication_pb2_grpc as rp_grpc

log = logging.getLogger("dome.engine.replica")

#: How long a required follower may lag a batch before the primary asks discovery to
#: drop it from the in-sync set (acks ``all``); a follower whose stream broke goes at once.
LAG_TIMEOUT = 1.0
#: Items a follower's outbound queue may hold before the primary cuts it off; it then
#: reconnects and catches up from the journal instead of growing the primary's memory.
SESSION_QUEUE_LIMIT = 20_000
#: Pause between attempts to record a caught-up follower as in sync.
JOIN_RETRY = 0.25
#: Deadline of the first answer on a ``Replicate`` stream.
START_TIMEOUT = 3.0

#: End of a stream, as ``read()`` returns it (the stubs do not declare it).
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]


class Role(enum.Enum):
    """What this engine does for a symbol right now."""

    NONE = "none"
    ELECTING = "electing"
    PRIMARY = "primary"
    FOLLOWER = "follower"


class Coordinator(Protocol):
    """The part of the discovery agent a replica needs."""

    def lease_valid(self) -> bool:
        """Whether this engine's lease is certainly still alive."""
        ...

    def poke(self) -> None:
        """Send a heartbeat (with fresh reports) now."""
        ...

    async def update_in_sync(self, symbol: str, epoch: int, in_sync: list[str]) -> bool:
        """Ask discovery to record a new in-sync set; True once recorded."""
        ...


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


class ReplicaStats(Protocol):
    """Metrics a replica moves."""

    def observe_role(self, role: str, epoch: int) -> None:
        """Record the role and epoch."""
        ...

    def observe_commit(self, seconds: float, lag: int) -> None:
        """A batch committed after ``seconds``; the slowest required follower lags ``lag``."""
        ...

    def observe_refused(self) -> None:
        """A replication entry was refused (gap, older epoch, malformed)."""
        ...


class Replica:
    """The log of one symbol on this engine and its replication role."""

    def __init__(
        self,
        *,
        engine_id: str,
        symbol: str,
        journal: Journal,
        applier: Applier,
        coordinator: Coordinator,
        peers: Peers,
        pending: Sequence[DecodedBatch] = (),
        stats: ReplicaStats | None = None,
        on_snapshot_due: Callable[[], None] | None = None,
        install_snapshot: Callable[[bytes], Any] | None = None,
    ) -> None:
        self.engine_id = engine_id
        self.symbol = symbol
        self.journal = journal
        self.applier = applier
        self._coordinator = coordinator
        self._peers = peers
        self._stats = stats
        self._on_applied = on_snapshot_due
        self._install_snapshot = install_snapshot
        self.pending: deque[DecodedBatch] = deque(pending)
        self.role = Role.NONE
        self.epoch = journal.last_epoch
        self.primary_id = ""
        self.acks = "all"
        self.followers: list[str] = []
        self.in_sync: set[str] = set()
        self.committed_seq = applier.market.last_seq
        self._sessions: dict[str, FollowerSession] = {}
        self._joining: set[str] = set()
        self._isr_lock = asyncio.Lock()
        self._progress = asyncio.Event()
        self._follow_task: asyncio.Task[None] | None = None
        self._isr_tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ reporting

    @property
    def applied_seq(self) -> int:
        """Last sequence number applied to the market."""
        return self.applier.market.last_seq

    @property
    def next_seq(self) -> int:
        """Where the next batch this engine sequences starts: the journal's end + 1.

        A batch the journal refused left it unchanged; one journaled that failed to
        commit keeps its numbers (a later commit covers it).
        """
        return self.journal.last_seq + 1

    def writable(self) -> bool:
        """Whether this engine may sequence the symbol now."""
        return self.role is Role.PRIMARY and self._coordinator.lease_valid()

    def check_writable(self) -> None:
        """Raise ``NotPrimary`` or ``Unavailable`` unless ``writable()``."""
        if self.role is Role.PRIMARY:
            if not self._coordinator.lease_valid():
                raise Unavailable(f"{self.symbol}: this engine's lease lapsed; not taking writes")
            return
        if self.primary_id and self.primary_id != self.engine_id:
            raise NotPrimary(
                f"{self.symbol}: primary is {self.primary_id} (epoch {self.epoch}), not "
                f"{self.engine_id}"
            )
        raise Unavailable(f"{self.symbol}: no primary yet (epoch {self.epoch} election open)")

    def report(self) -> ds.ReplicaReport:
        """What discovery needs to elect a primary and show placement."""
        return ds.ReplicaReport(
            symbol=self.symbol,
            epoch=self.epoch,
            journaled_seq=self.journal.last_seq,
            last_epoch=self.journal.last_epoch,
            applied_seq=self.applied_seq,
            writable=self.writable(),
        )

    def status(self, state_hash: str) -> rp.ReplicaStatus:
        """The replica as ``GetReplicaStatus`` shows it."""
        role = {
            Role.PRIMARY: rp.REPLICA_ROLE_PRIMARY,
            Role.FOLLOWER: rp.REPLICA_ROLE_FOLLOWER,
        }.get(self.role, rp.REPLICA_ROLE_UNSPECIFIED)
        return rp.ReplicaStatus(
            symbol=self.symbol,
            role=role,
            epoch=self.epoch,
            applied_seq=self.applied_seq,
            journaled_seq=self.journal.last_seq,
            committed_seq=self.committed_seq,
            state_hash=state_hash,
            first_seq=self.journal.first_seq,
        )

    # ----------------------------------------------------------------- placement

    def on_placement(self, sp: ds.SymbolPlacement, acks: str) -> None:
        """Carry out discovery's placement of this symbol (synchronously: no await)."""
        self.acks = acks or "all"
        if sp.epoch < self.epoch:
            return
        me = self.engine_id
        replica_set = [sp.primary, *sp.followers] if sp.primary else list(sp.followers)
        if sp.epoch == self.epoch and sp.primary == self.primary_id and self.role is not Role.NONE:
            # Same leadership: the in-sync set or the followers changed.
            self.followers = list(sp.followers)
            if self.role is Role.PRIMARY:
                # Discovery's record only: a follower still joining must not look
                # recorded (``_join`` would stop trying); acks wait for it regardless.
                self.in_sync = set(sp.in_sync)
                for follower_id in list(self._sessions):
                    if follower_id not in self.followers:
                        self._sessions.pop(follower_id).close()
                self._progress.set()
            elif self.role is Role.FOLLOWER and me not in replica_set:
                self._become(Role.NONE)
            return
        was_primary = self.role is Role.PRIMARY
        self.epoch = sp.epoch
        self.primary_id = sp.primary
        self.followers = list(sp.followers)
        self.in_sync = set(sp.in_sync)
        self._stop_following()
        if was_primary:
            self._step_down()
        if not sp.primary:
            self._become(Role.ELECTING if me in replica_set or was_primary else Role.NONE)
            self._coordinator.poke()
        elif sp.primary == me:
            self._promote()
        elif me in sp.followers:
            self._become(Role.FOLLOWER)
            self._follow_task = asyncio.create_task(
                self._follow(self.epoch, sp.primary), name=f"follow-{self.symbol}"
            )
        else:
            self._become(Role.NONE)

    def _become(self, role: Role) -> None:
        if role is not self.role:
            log.info(
                "replica role",
                extra={
                    "symbol": self.symbol,
                    "role": role.value,
                    "epoch": self.epoch,
                    "primary": self.primary_id,
                },
            )
        self.role = role
        if self._stats is not None:
            self._stats.observe_role(role.value, self.epoch)

    def _promote(self) -> None:
        # Everything journaled here becomes the new epoch's log: apply what is not
        # applied yet, then sequence on from the journal's end.
        self._apply_through(self.journal.last_seq)
        self.committed_seq = self.journal.last_seq
        self._joining.clear()
        self._become(Role.PRIMARY)

    def _step_down(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
        self._joining.clear()
        # A batch waiting for acks sees the role change at once; batches still queued
        # are refused by ``commit`` as their turn comes (this engine is not primary).
        self._progress.set()

    def _stop_following(self) -> None:
        if self._follow_task is not None:
            self._follow_task.cancel()
            self._follow_task = None

    async def close(self) -> None:
        """Stop following and serving followers (engine shutdown)."""
        task = self._follow_task
        self._stop_following()
        for session in self._sessions.values():
            session.close()
        for t in [*self._isr_tasks, *([task] if task else [])]:
            t.cancel()
        await asyncio.gather(*self._isr_tasks, *([task] if task else []), return_exceptions=True)

    # ------------------------------------------------------------------ applying

    def _apply_through(self, seq: int) -> None:
        """Apply pending batches up to ``seq`` (committed), in order."""
        pending = self.pending
        applied_any = False
        while pending and pending[0].last_seq <= seq:
            batch = pending.popleft()
            if batch.last_seq <= self.applied_seq:
                continue
            self.applier.apply(batch.commands, sequenced=False)
            applied_any = True
        if applied_any:
            self._snapshot_due()

    def _snapshot_due(self) -> None:
        """Let the engine snapshot; a failure there must never fail what was committed."""
        if self._on_applied is None:
            return
        try:
            self._on_applied()
        except Exception:
            log.exception("snapshot check failed", extra={"symbol": self.symbol})

    # ------------------------------------------------------------- primary side

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
        self.pending.append(batch)
        message = rp.ReplicateResponse(batch=data)
        for session in self._sessions.values():
            session.push(message)
        await self.journal.flush()
        await self._await_quorum(batch.last_seq, epoch)
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

    # ------------------------------------------------------------ follower side

    async def _follow(self, epoch: int, primary_id: str) -> None:
        backoff = 0.05
        while self.role is Role.FOLLOWER and self.epoch == epoch:
            try:
                await self._follow_once(epoch, primary_id)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                log.info(
                    "replication stream ended",
                    extra={
                        "symbol": self.symbol,
                        "primary": primary_id,
                        "code": exc.code().name,
                        "error": exc.details(),
                    },
                )
            except asyncio.InvalidStateError:
                # An ack written after the primary closed the stream (it stepped down,
                # or dropped the session): an ordinary end, the next subscribe follows.
                log.info(
                    "replication stream ended",
                    extra={"symbol": self.symbol, "primary": primary_id, "code": "CLOSED"},
                )
            except (LogFormatError, JournalGap, StaleEpoch, ValueError) as exc:
                if self._stats is not None:
                    self._stats.observe_refused()
                log.error(
                    "replication entry refused",
                    extra={"symbol": self.symbol, "primary": primary_id, "error": str(exc)},
                )
            except Exception:
                log.exception("following failed", extra={"symbol": self.symbol})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 0.5)

    async def _follow_once(self, epoch: int, primary_id: str) -> None:
        stub = rp_grpc.ReplicationServiceStub(self._peers.channel(primary_id))
        # read/write style; the peer secret proves to the primary that we are a peer
        call: Any = stub.Replicate(metadata=self._peers.metadata)  # type: ignore[call-arg]
        try:
            await call.write(
                rp.ReplicateRequest(
                    subscribe=rp.ReplicateSubscribe(
                        symbol=self.symbol,
                        epoch=epoch,
                        follower_id=self.engine_id,
                        last_seq=self.journal.last_seq,
                        last_epoch=self.journal.last_epoch,
                    )
                )
            )
            async with asyncio.timeout(START_TIMEOUT):
                first = await call.read()
            if first is _EOF or first.WhichOneof("kind") != "start":
                raise ValueError("replication stream did not start with a start message")
            start = first.start
            if start.snapshot_required:
                await self._fetch_snapshot(primary_id)
                return
            if start.truncate_to < self.applied_seq:
                # Our applied state holds entries the new epoch does not (a tail this
                # engine recovered from its own journal): start over from a snapshot.
                log.warning(
                    "journal diverges below the applied sequence; fetching a snapshot",
                    extra={"symbol": self.symbol, "applied": self.applied_seq},
                )
                await self._fetch_snapshot(primary_id)
                return
            if start.truncate_to < self.journal.last_seq:
                self._truncate(start.truncate_to)
            self._apply_through(min(start.committed_seq, self.journal.last_seq))
            journal = self.journal
            while True:
                message = await call.read()
                if message is _EOF:
                    return
                if self.role is not Role.FOLLOWER or self.epoch != epoch:
                    # Placement moved on (the task is being cancelled): never journal an
                    # entry of an epoch this engine has already reported leaving.
                    return
                kind = message.WhichOneof("kind")
                if kind == "batch":
                    batch = decode_batch(message.batch)
                    if batch.symbol != self.symbol or batch.epoch > epoch:
                        raise ValueError(
                            f"entry for {batch.symbol} at epoch {batch.epoch} on the "
                            f"{self.symbol} stream of epoch {epoch}"
                        )
                    journal.append(message.batch, batch)
                    self.pending.append(batch)
                    await journal.flush()
                    await call.write(
                        rp.ReplicateRequest(ack=rp.ReplicateAck(journaled_seq=journal.last_seq))
                    )
                    self._commit(batch.committed_seq)
                elif kind == "committed_seq":
                    self._commit(message.committed_seq)
        finally:
            call.cancel()

    def _commit(self, seq: int) -> None:
        seq = min(seq, self.journal.last_seq)
        if seq > self.committed_seq:
            self.committed_seq = seq
        self._apply_through(self.committed_seq)

    def _truncate(self, seq: int) -> None:
        log.warning(
            "truncating a journal tail the new epoch does not hold",
            extra={"symbol": self.symbol, "from": self.journal.last_seq, "to": seq},
        )
        self.journal.truncate_after(seq)
        while self.pending and self.pending[-1].first_seq > seq:
            self.pending.pop()

    async def _fetch_snapshot(self, primary_id: str) -> None:
        if self._install_snapshot is None:
            raise ValueError("this engine cannot install snapshots")
        stub = rp_grpc.ReplicationServiceStub(self._peers.channel(primary_id))
        chunks: list[bytes] = []
        request = rp.FetchSnapshotRequest(symbol=self.symbol)
        async for chunk in stub.FetchSnapshot(request, metadata=self._peers.metadata):
            chunks.append(chunk.data)
        self._install_snapshot(b"".join(chunks))
        self.pending.clear()
        self.committed_seq = self.applied_seq
