"""The placement decisions of discovery, as a pure state machine driven by ``now``.

No clock, no I/O, no asyncio: the driver (``dome.discovery.service``) feeds it
registrations, heartbeats and periodic ``tick(now)`` calls, persists each ``Proposal``
it returns with a compare-and-set, and only then calls ``commit`` - so an epoch is in
the store before any engine can see it, and a lost compare-and-set (``adopt``) never
publishes anything the store does not hold. Tests drive it with a fake clock.

Safety rules kept here (DESIGN.md section 3):

- An engine is dead when nothing was heard for ``lease_ttl + grace``; it fenced itself
  ``lease_ttl`` after *sending* its last renewed heartbeat, so it stopped writing before.
- A dead (or restarted) primary opens an election under a new epoch with no primary.
  The winner is the eligible replica reporting the highest journaled sequence at the
  new epoch: eligible means alive and in sync. Under ``acks=majority`` a decision also
  needs reports from a majority of the replica set, the dead primary counted.
- A decision waits for every alive eligible replica, so a live old primary (planned
  move, or a restart of discovery mid-election) has confirmed it stopped. The election
  timeout only shortens the wait when the old primary is known to be dead.
- A planned move under ``acks=all`` elects its target when it reported: any in-sync
  replica holds every acknowledged entry, and what others hold beyond it was never
  acknowledged (they truncate it when they follow). So moves land where planned.
- With nobody eligible alive, an election stays open; nobody who may lack an
  acknowledged entry is promoted.
- An engine that reports a symbol ``failed`` (its journal failed an fsync) has stopped
  it: as primary it is lost at once (an election opens, and it need not be waited for:
  it takes no writes), and it is never eligible nor counted in sync for the symbol until
  a new incarnation (a restart) reports otherwise.
- A draining engine (about to stop) gets no new primaries or followers. Each symbol it
  leads moves by a planned election to an in-sync follower that is not draining, all at
  once (each election waits for the live old primary's report, so no two writers); it
  never wins an election while a replica that is not draining may safely win instead.
- An evacuated engine (``evacuate``: it is about to be removed for good) is draining,
  and each symbol it follows gets a replacement on an engine that stays first; the
  evacuated follower leaves the replica set only once the replicas that stay are
  enough and all hold what the primary holds (in sync under ``all``, caught up to
  its reported sequence under ``majority``), so no symbol ever has fewer. Engines
  ``engine-<n>`` with ``n >= leaving_from_ordinal`` (the operator's scale-down, through
  the ConfigMap) are evacuated the same way.
- A symbol above its replication factor (an evacuation cancelled after a replacement
  joined, a factor lowered) is trimmed back, only while at least the factor's worth of
  replicas hold what the primary holds, dropping catching-up followers first, then
  those on the engines with the most replicas.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from dome.discovery.coordinator_state import CoreConfig, Election, EngineLease, Event, Timings
from dome.discovery.decisions import PlacementDecisions
from dome.discovery.records import (
    EngineView,
    PlacementView,
    Proposal,
    Report,
    SymbolView,
    Versioned,
)
from dome.discovery.spread import replica_count

__all__ = [
    "Coordinator",
    "CoreConfig",
    "DrainStatus",
    "EvacuationStatus",
    "Event",
    "InSyncDecision",
    "Timings",
    "UnknownEngine",
]


class UnknownEngine(Exception):
    """A heartbeat from an engine that must register (again) first."""


@dataclass(frozen=True)
class DrainStatus:
    """The answer to a DrainEngine: what the engine still leads."""

    #: Symbols it leads now (each one moving by a planned election).
    primaries: int
    #: Of those, symbols no other live, non-draining engine replicates: they cannot move.
    stranded: int


@dataclass(frozen=True)
class EvacuationStatus:
    """The answer to an EvacuateEngines: how far moving every replica off them has got."""

    #: The engines being evacuated (none: no evacuation).
    leaving: tuple[str, ...]
    #: Symbols that still have a replica (primary or follower) on a leaving engine.
    replicas_left: int
    #: Symbols with fewer replicas that stay and are in sync than the replication
    #: factor allows on the engines that stay, or with an open election.
    under_replicated: int

    @property
    def done(self) -> bool:
        """Removing the leaving engines now takes nothing any symbol needs."""
        return self.replicas_left == 0 and self.under_replicated == 0


@dataclass(frozen=True)
class InSyncDecision:
    """The answer to an UpdateInSync: refused, accepted as is, or accepted once persisted."""

    accepted: bool
    proposal: Proposal | None = None


class Coordinator(PlacementDecisions):
    """Engines, leases and the placement map; see the module docstring for the rules.

    Its state and lease helpers are ``dome.discovery.coordinator_state``'s, its decisions
    ``dome.discovery.decisions``'; this class takes the inputs, runs a tick, publishes
    what the store holds and answers queries.
    """

    # -- inputs -------------------------------------------------------------------------------

    def load(self, records: dict[str, Versioned], now: float) -> None:
        """Start from a store's records (after a discovery restart).

        Every engine is unknown: for ``timings.recovery`` (a lease period plus grace,
        plus the time an engine takes to reconnect to a restarted discovery), nothing
        changes, so a stored primary that is still alive can re-register and keep its
        role at the same epoch; after that, whoever did not come back is dead and
        failover runs.
        """
        self._records = {s: v for s, v in records.items() if s in self.config.symbols}
        for symbol, versioned in self._records.items():
            if not versioned.record.primary:
                self._elections[symbol] = Election(now, None, None)
            else:
                self._unconfirmed.add(symbol)
        if self._records:
            self._recovering_until = now + self.timings.recovery
            self.version += 1

    def reconfigure(
        self, config: CoreConfig, now: float, stored: dict[str, Versioned] | None = None
    ) -> None:
        """Run on ``config`` from now on (``dome.discovery.runtime_config``); timings stay.

        What each change does follows from the rules above, with nothing moved at once:
        a new symbol is placed by the next tick (on the least loaded engines) unless
        ``stored`` holds its record, which it resumes as ``load`` would, a removed
        one is forgotten as a restart with the new instruments would forget it (its
        record stays in the store), a larger replication factor is refilled by repair,
        and the acks mode is published with the next placement. ``engines_expected``
        only matters before the first placement; ``leaving_from_ordinal`` evacuates the
        engines at or above it (a scale-down), and raising it cancels that: repair then
        trims any symbol left above its factor.
        """
        config = replace(config, timings=self.timings)
        dropped = set(self.config.symbols) - set(config.symbols)
        for symbol in dropped:
            self._records.pop(symbol, None)
            self._elections.pop(symbol, None)
            self._seq.pop(symbol, None)
            self._cooldown.pop(symbol, None)
            self._unconfirmed.discard(symbol)
        for symbol, versioned in (stored or {}).items():
            if symbol in self._records or symbol not in config.symbols:
                continue
            self._records[symbol] = versioned
            if not versioned.record.primary:
                self._elections[symbol] = Election(now, None, None)
            else:
                self._unconfirmed.add(symbol)
        if config != self.config:
            self.config = config
            self.version += 1
            self.events.append(Event("reconfigured", detail=f"{len(config.symbols)} symbols"))
        self._refresh_leaving()

    def register(
        self,
        engine_id: str,
        incarnation: str,
        address: str,
        metrics_url: str,
        reports: list[Report],
        now: float,
        peer_address: str = "",
    ) -> None:
        """An engine joins; a new incarnation of a known id replaces the old process.

        A restarted primary loses its role through an election: its new process may not
        hold what the old one acknowledged, and the election finds who does.
        """
        old = self._engines.get(engine_id)
        if old is not None and old.incarnation != incarnation and self._primary_of(engine_id):
            self._reset.add(engine_id)
            self.events.append(Event("restarted", engine=engine_id))
        changed = old is None or (old.address, old.metrics_url, old.peer_address) != (
            address,
            metrics_url,
            peer_address,
        )
        # A lapsed lease renewed by the same process keeps draining; a new process does not.
        draining = old is not None and old.incarnation == incarnation and old.draining
        self._engines[engine_id] = EngineLease(
            engine_id,
            incarnation,
            address,
            metrics_url,
            now,
            {r.symbol: r for r in reports},
            draining,
            peer_address,
        )
        if old is not None and old.draining and not draining:
            changed = True
        self._observe(engine_id, reports)
        self._refresh_leaving()
        if changed or engine_id not in self._alive:
            self._alive = self._alive | {engine_id}
            self.version += 1
        self.events.append(Event("registered", engine=engine_id, detail=incarnation))

    def heartbeat(self, engine_id: str, incarnation: str, reports: list[Report], now: float) -> int:
        """Renew a lease; returns the placement version.

        Raises ``UnknownEngine`` for an unknown id, another incarnation, or a lease that
        already lapsed: a lapsed engine re-registers and so receives the placement (and
        any new epoch) before its lease is valid again.
        """
        engine = self._engines.get(engine_id)
        if engine is None or engine.incarnation != incarnation:
            raise UnknownEngine(f"engine {engine_id!r} ({incarnation}) is not registered")
        if not self._alive_at(engine, now):
            raise UnknownEngine(f"the lease of engine {engine_id!r} lapsed; register again")
        engine.last_heard = now
        engine.reports = {r.symbol: r for r in reports}
        self._observe(engine_id, reports)
        return self.version

    def drain(self, engine_id: str, incarnation: str, now: float) -> DrainStatus:
        """An engine about to stop hands off its primaries; returns what it still leads.

        From now on it gets no new roles, and ``tick`` moves each symbol it leads to an
        in-sync follower that is not draining. Idempotent, so the engine calls it again
        to follow progress. Raises ``UnknownEngine`` like ``heartbeat``.
        """
        engine = self._engines.get(engine_id)
        if engine is None or engine.incarnation != incarnation:
            raise UnknownEngine(f"engine {engine_id!r} ({incarnation}) is not registered")
        if not self._alive_at(engine, now):
            raise UnknownEngine(f"the lease of engine {engine_id!r} lapsed; register again")
        if not engine.draining:
            engine.draining = True
            self.version += 1
            self.events.append(Event("draining", engine=engine_id))
        led = [v.record for v in self._records.values() if v.record.primary == engine_id]
        stranded = sum(
            1 for record in led
            if not any(self._movable_to(m, now) for m in record.followers)
        )  # fmt: skip
        return DrainStatus(len(led), stranded)

    def evacuate(self, engine_ids: Iterable[str], now: float) -> EvacuationStatus:
        """Move every replica off ``engine_ids`` (all the engines to remove; an empty set
        cancels); returns the progress. Idempotent: call it again to follow it.

        Unknown ids are accepted: an engine not registered yet must not be given roles.
        """
        self._evacuate_requested = frozenset(engine_ids)
        self._refresh_leaving()
        return self.evacuation(now)

    def evacuation(self, now: float) -> EvacuationStatus:
        staying = [e for e in self._alive if e not in self._leaving and self._is_alive(e, now)]
        want = replica_count(self.config.replication_factor, len(staying))
        left = under = 0
        for symbol in sorted(self.config.symbols):
            versioned = self._records.get(symbol)
            if versioned is None or symbol in self._elections:
                under += 1
                continue
            record = versioned.record
            if any(m in self._leaving for m in record.members):
                left += 1
            if len(self._holding(symbol, record, now)) < want:
                under += 1
        return EvacuationStatus(tuple(sorted(self._leaving)), left, under)

    def update_in_sync(
        self, symbol: str, epoch: int, primary: str, in_sync: list[str]
    ) -> InSyncDecision:
        """The primary changes a symbol's in-sync set; refused unless current and sound."""
        versioned = self._records.get(symbol)
        if versioned is None or symbol in self._elections:
            return InSyncDecision(False)
        record = versioned.record
        wanted = tuple(sorted(set(in_sync)))
        if (
            record.epoch != epoch
            or not primary
            or record.primary != primary
            or primary not in wanted
            or not set(wanted) <= set(record.members)
        ):
            return InSyncDecision(False)
        if wanted == record.in_sync:
            return InSyncDecision(True)
        proposal = Proposal(symbol, replace(record, in_sync=wanted), versioned.version, "in_sync")
        return InSyncDecision(True, proposal)

    # -- decisions ----------------------------------------------------------------------------

    def tick(self, now: float) -> list[Proposal]:
        """Decide what changes now: first placement, elections, drains, repairs, one handoff."""
        self._track_liveness(now)
        self._refresh_leaving()
        # Engines that may take new roles: alive and not draining.
        alive = sorted(e for e in self._alive if not self._draining(e))
        if not self._records:
            return self._first_placement(alive, now)
        if now < self._recovering_until:
            return []
        proposals: list[Proposal] = []
        self._chosen.clear()
        for symbol in sorted(self.config.symbols):
            proposal = self._decide(symbol, alive, now)
            if proposal is not None:
                proposals.append(proposal)
        self._unconfirmed.clear()
        if not proposals and not self._elections:
            planned = self._rebalance(alive, now)
            if planned is not None:
                proposals.append(planned)
        return proposals

    def commit(self, proposal: Proposal, version: str, now: float) -> None:
        """The store holds ``proposal`` under ``version``: publish it."""
        symbol, record = proposal.symbol, proposal.record
        old = self._records.get(symbol)
        self._records[symbol] = Versioned(record, version)
        if not record.primary:
            self._elections[symbol] = Election(now, proposal.old_primary, proposal.target)
            if proposal.target is not None:
                self._cooldown[symbol] = now + self.timings.rebalance_cooldown
            self.events.append(Event("election_opened", symbol, proposal.old_primary or "",
                                     proposal.reason))  # fmt: skip
        else:
            if self._elections.pop(symbol, None) is not None:
                self.events.append(Event("elected", symbol, record.primary, proposal.reason))
            if proposal.seq is not None:
                self._seq[symbol] = proposal.seq
        if old is None or old.record.epoch != record.epoch:
            self.events.append(Event("epoch", symbol, detail=str(record.epoch)))
        self._reset = {e for e in self._reset if self._primary_of(e)}
        self.version += 1

    def adopt(self, symbol: str, stored: Versioned | None, now: float) -> None:
        """A compare-and-set was lost: take what the store holds as the truth."""
        self.events.append(Event("conflict", symbol))
        if stored is None:
            self._records.pop(symbol, None)
            self._elections.pop(symbol, None)
        else:
            self._records[symbol] = stored
            if not stored.record.primary:
                self._elections.setdefault(symbol, Election(now, None, None))
            else:
                self._elections.pop(symbol, None)
        self.version += 1

    # -- queries ------------------------------------------------------------------------------

    @property
    def placed(self) -> bool:
        """True once every symbol has a record (the service is then ready)."""
        return all(s in self._records for s in self.config.symbols)

    def records(self) -> dict[str, Versioned]:
        return dict(self._records)

    def open_elections(self) -> list[str]:
        return sorted(self._elections)

    def stuck_elections(self, now: float) -> list[str]:
        """Open elections with no eligible replica alive: waiting for one to return."""
        return [
            s for s in sorted(self._elections)
            if not self._eligible(self._records[s].record, now, s)
        ]  # fmt: skip

    def alive_engines(self, now: float) -> list[str]:
        return sorted(e.engine_id for e in self._engines.values() if self._alive_at(e, now))

    def serving_engines(self, now: float) -> list[str]:
        """Alive engines that are not draining: where new clients go."""
        return [e for e in self.alive_engines(now) if not self._draining(e)]

    def engines(self, now: float) -> tuple[EngineView, ...]:
        return tuple(
            EngineView(
                e.engine_id,
                e.address,
                e.metrics_url,
                self._alive_at(e, now),
                self._draining(e.engine_id),
                e.peer_address,
            )
            for e in sorted(self._engines.values(), key=lambda e: e.engine_id)
        )

    def address_of(self, engine_id: str) -> str:
        engine = self._engines.get(engine_id)
        return engine.address if engine is not None else ""

    def view(self, now: float) -> PlacementView:
        """The placement as published now (``seq`` is the primary's latest report)."""
        symbols = tuple(self.symbol_view(s) for s in sorted(self._records))
        return PlacementView(
            self.version,
            symbols,
            self.engines(now),
            self.config.replication_factor,
            self.config.acks.value,
        )

    def symbol_view(self, symbol: str) -> SymbolView:
        record = self._records[symbol].record
        return SymbolView(
            symbol, record.epoch, record.primary, record.followers, record.in_sync,
            self._seq.get(symbol, 0),
        )  # fmt: skip

    def check_invariants(self) -> None:
        """Raise AssertionError when the published map breaks a rule (tests call this)."""
        for symbol, versioned in self._records.items():
            record = versioned.record
            members = record.members
            assert len(set(members)) == len(members), f"{symbol}: duplicate member {record}"
            assert set(record.in_sync) <= set(members), f"{symbol}: in_sync outside set"
            # One form per meaning: an unsorted list would be "repaired" into a new version.
            assert record.followers == tuple(sorted(record.followers)), f"{symbol}: unsorted"
            assert record.in_sync == tuple(sorted(record.in_sync)), f"{symbol}: unsorted in_sync"
            if record.primary:
                assert symbol not in self._elections, f"{symbol}: primary during election"
                assert record.primary in record.in_sync, f"{symbol}: primary not in sync"
            else:
                assert symbol in self._elections, f"{symbol}: no primary and no election"

    # -- internals ----------------------------------------------------------------------------

    def _observe(self, engine_id: str, reports: list[Report]) -> None:
        for report in reports:
            versioned = self._records.get(report.symbol)
            if versioned is not None and versioned.record.primary == engine_id:
                self._seq[report.symbol] = report.journaled_seq

    def _track_liveness(self, now: float) -> None:
        alive = frozenset(self.alive_engines(now))
        for lapsed in sorted(self._alive - alive):
            self.events.append(Event("lease_expired", engine=lapsed))
        if alive != self._alive:
            self._alive = alive
            self.version += 1
