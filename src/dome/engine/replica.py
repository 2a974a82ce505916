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
import logging

from dome.engine.follower import FollowerSide
from dome.engine.primary import FollowerSession, PrimarySide
from dome.engine.replica_state import DiscoveryLink, ReplicaStats, Role
from dome.v1 import discovery_pb2 as ds
from dome.v1 import replication_pb2 as rp

__all__ = ["DiscoveryLink", "FollowerSession", "Replica", "ReplicaStats", "Role"]

log = logging.getLogger("dome.engine.replica")


class Replica(PrimarySide, FollowerSide):
    """The log of one symbol on this engine and its replication role."""

    def report(self) -> ds.ReplicaReport:
        """What discovery needs to elect a primary and show placement."""
        return ds.ReplicaReport(
            symbol=self.symbol,
            epoch=self.epoch,
            journaled_seq=self.journal.last_seq,
            last_epoch=self.journal.last_epoch,
            applied_seq=self.applied_seq,
            writable=self.writable(),
            failed=self.failed is not None,
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
        if self.failed is not None:
            # Stopped here until restarted: remember who leads (calls are forwarded
            # there), take no role.
            self.epoch, self.primary_id = sp.epoch, sp.primary
            self.followers, self.in_sync = list(sp.followers), set(sp.in_sync)
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
