"""Discovery's placement decisions: first placement, elections, drains, repairs, moves.

Each ``tick`` of ``dome.discovery.core.Coordinator`` asks ``PlacementDecisions`` what
should change for each symbol, and gets a ``Proposal`` back (or None); nothing here
mutates the state it reads, so a proposal lost to a compare-and-set changed nothing. The
safety rules these methods keep are listed in ``dome.discovery.core``.
"""

from __future__ import annotations

from dome.discovery.coordinator_state import CoordinatorState
from dome.discovery.records import Acks, Proposal, Report, SymbolRecord, Versioned
from dome.discovery.spread import initial_placement, replica_count


class PlacementDecisions(CoordinatorState):
    """What to propose for a symbol now, read off the coordinator's state."""

    def _first_placement(self, alive: list[str], now: float) -> list[Proposal]:
        enough = len(alive) >= self.config.engines_expected
        waited = now >= self.started_at + self.timings.startup_grace
        if not alive or not (enough or waited):
            return []
        placement = initial_placement(self.config.symbols, alive, self.config.replication_factor)
        return [Proposal(s, r, None, "initial") for s, r in sorted(placement.items())]

    def _decide(self, symbol: str, alive: list[str], now: float) -> Proposal | None:
        versioned = self._records.get(symbol)
        if versioned is None:
            return self._place_new(symbol, alive)
        record = versioned.record
        if symbol in self._elections:
            return self._try_elect(symbol, versioned, now)
        primary = record.primary
        lost = (
            not self._is_alive(primary, now)
            or primary in self._reset
            or self._failed(primary, symbol)
        )
        if symbol in self._unconfirmed and not lost:
            lost = symbol not in self._engines[primary].reports
        if lost:
            return self._open(symbol, versioned, None, "failover")
        if self._draining(primary):
            target = self._drain_target(symbol, record, now)
            if target is not None:
                return self._open(symbol, versioned, target, "drain")
        return self._repair(symbol, versioned, alive, now)

    def _place_new(self, symbol: str, alive: list[str]) -> Proposal | None:
        """A symbol added to the instruments after the first placement: least loaded."""
        if not alive:
            return None
        r = replica_count(self.config.replication_factor, len(alive))
        chosen = sorted(alive, key=lambda e: (self._load(e), e))[:r]
        record = SymbolRecord(1, chosen[0], tuple(sorted(chosen[1:])), tuple(sorted(chosen)))
        return Proposal(symbol, record, None, "new_symbol")

    def _load(self, engine_id: str) -> tuple[int, int]:
        primaries = sum(v.record.primary == engine_id for v in self._records.values())
        replicas = sum(engine_id in v.record.members for v in self._records.values())
        return primaries, replicas

    def _open(self, symbol: str, versioned: Versioned, target: str | None, reason: str) -> Proposal:
        record = versioned.record
        opened = SymbolRecord(record.epoch + 1, "", tuple(sorted(record.members)), record.in_sync)
        return Proposal(
            symbol, opened, versioned.version, reason, old_primary=record.primary, target=target
        )

    def _eligible(self, record: SymbolRecord, now: float, symbol: str) -> list[str]:
        return [
            m
            for m in record.followers
            if m in record.in_sync and self._is_alive(m, now) and not self._failed(m, symbol)
        ]

    def _failed(self, engine_id: str, symbol: str) -> bool:
        """Whether ``engine_id`` reports that it stopped ``symbol`` (a failed fsync)."""
        engine = self._engines.get(engine_id)
        report = engine.reports.get(symbol) if engine is not None else None
        return report is not None and report.failed

    def _quorum(self, members: int) -> int:
        """Reports an election needs: a majority of the replica set, or one (acks all)."""
        return members // 2 + 1 if self.config.acks is Acks.MAJORITY else 1

    def _drain_target(self, symbol: str, record: SymbolRecord, now: float) -> str | None:
        """The best in-sync follower to take a draining primary's symbol, if one may.

        Only when the election can be decided without the draining engine: under
        ``all`` any in-sync replica holds every acknowledged entry; under ``majority``
        the replicas that are not draining must be a majority of the set, so the most
        advanced of them holds every acknowledged entry. Best: the fewest primaries
        (counting moves already heading there, so a drained engine's symbols spread),
        then the highest sequence reported, then the id.
        """
        candidates = [
            m
            for m in record.followers
            if m in record.in_sync and self._movable_to(m, now) and not self._failed(m, symbol)
        ]
        if len(candidates) < self._quorum(len(record.members)):
            return None

        def seq(m: str) -> int:
            report = self._engines[m].reports.get(symbol)
            return report.journaled_seq if report is not None else 0

        def heading(m: str) -> int:
            opened = sum(e.target == m for e in self._elections.values())
            return self._load(m)[0] + opened + self._chosen[m]

        target = min(candidates, key=lambda m: (heading(m), -seq(m), m))
        self._chosen[target] += 1
        return target

    def _try_elect(self, symbol: str, versioned: Versioned, now: float) -> Proposal | None:
        record, election = versioned.record, self._elections[symbol]
        eligible = self._eligible(record, now, symbol)
        if not eligible:
            return None
        reports: dict[str, Report] = {}
        for member in eligible:
            report = self._engines[member].reports.get(symbol)
            if report is not None and report.epoch >= record.epoch:
                reports[member] = report
        quorum = self._quorum(len(record.followers))
        if len(reports) < quorum:
            return None
        everyone = len(reports) == len(eligible)
        timed_out = (
            election.old_primary is not None
            and (
                not self._is_alive(election.old_primary, now)
                or self._failed(election.old_primary, symbol)
            )
            and now >= election.opened_at + self.timings.election_timeout
        )
        if not (everyone or timed_out):
            return None
        # A draining engine wins only when nobody else may (see ``_drain_target``).
        pool = {m: r for m, r in reports.items() if not self._draining(m)}
        if len(pool) < quorum:
            pool = reports
        if self.config.acks is Acks.ALL and election.target in pool:
            winner = election.target
        else:
            winner = min(pool, key=lambda m: (-pool[m].journaled_seq, m != election.target, m))
        alive_in_sync = {
            m for m in record.in_sync if self._is_alive(m, now) and not self._failed(m, symbol)
        }
        elected = SymbolRecord(
            record.epoch,
            winner,
            tuple(sorted(m for m in record.followers if m != winner)),
            tuple(sorted(alive_in_sync | {winner})),
        )
        reason = "planned" if election.target is not None else "failover"
        return Proposal(symbol, elected, versioned.version, reason, seq=pool[winner].journaled_seq)

    def _repair(
        self, symbol: str, versioned: Versioned, alive: list[str], now: float
    ) -> Proposal | None:
        """Drop dead followers (and their in-sync membership); refill up to R.

        Newcomers are not in sync: the primary adds them once caught up (UpdateInSync).
        """
        record = versioned.record
        followers = [f for f in record.followers if self._is_alive(f, now)]
        members = {record.primary, *followers}
        want = replica_count(self.config.replication_factor, len(alive))
        spare = sorted((e for e in alive if e not in members), key=lambda e: (self._load(e), e))
        # An evacuated follower does not count: its replacement joins beside it first.
        staying = {m for m in members if m not in self._leaving}
        while len(staying) < want and spare:
            newcomer = spare.pop(0)
            followers.append(newcomer)
            members.add(newcomer)
            staying.add(newcomer)
        holding = self._holding(symbol, record, now)
        if record.primary not in self._leaving and len(holding) >= want:
            followers = [f for f in followers if f not in self._leaving]
            members = {record.primary, *followers}
        followers = self._trimmed(followers, holding, record.primary)
        members = {record.primary, *followers}
        in_sync = tuple(m for m in record.in_sync if m in members)
        repaired = SymbolRecord(record.epoch, record.primary, tuple(sorted(followers)), in_sync)
        if repaired == record:
            return None
        return Proposal(symbol, repaired, versioned.version, "repair")

    def _trimmed(self, followers: list[str], holding: list[str], primary: str) -> list[str]:
        """``followers`` less those above the replication factor (a cancelled evacuation
        leaves its replacement beside the follower it was to replace).

        Against the factor itself, not the count of engines that may take roles: a
        draining engine's replicas are still needed until it stops. Only while the
        factor's worth of replicas hold what the primary holds (so nothing is refilled
        at once); a catching-up follower goes first, then the one on the engine with
        the most replicas (the newcomer, usually), then by id.
        """
        factor = self.config.replication_factor
        if not primary or primary in self._leaving or len(holding) < factor:
            return followers
        kept = list(followers)
        # A leaving follower is not counted (nor dropped here): its replacement is needed.
        staying = [f for f in kept if f not in self._leaving]
        while staying and len(staying) + 1 > factor:
            drop = max(staying, key=lambda f: (f not in holding, self._load(f)[::-1], f))
            staying.remove(drop)
            kept.remove(drop)
        return kept

    def _holding(self, symbol: str, record: SymbolRecord, now: float) -> list[str]:
        """The replicas that stay (not evacuated), alive, and hold what the primary holds:
        in sync under ``all``; under ``majority``, which keeps no in-sync set for new
        followers, reporting the primary's sequence (``_caught_up``)."""
        if not record.primary or record.primary in self._leaving:
            return []
        return [
            m
            for m in record.members
            if m not in self._leaving
            and self._is_alive(m, now)
            and not self._failed(m, symbol)
            and (
                m in record.in_sync
                if self.config.acks is Acks.ALL
                else m == record.primary or self._caught_up(symbol, m, record.primary)
            )
        ]

    def _rebalance(self, alive: list[str], now: float) -> Proposal | None:
        """At most one planned move: from the busiest primary to the idlest in-sync replica.

        A move happens only when the two differ by two or more primaries (so the result
        is never worse), the target reports the primary's sequence (so it wins the
        election), and the symbol was not moved within the cooldown.
        """
        if len(alive) < 2:
            return None
        counts = {e: 0 for e in alive}
        for versioned in self._records.values():
            if versioned.record.primary in counts:
                counts[versioned.record.primary] += 1
        for target in sorted(alive, key=lambda e: (counts[e], e)):
            best: tuple[int, str] | None = None
            for symbol, versioned in self._records.items():
                record = versioned.record
                source = record.primary
                if (
                    source not in counts
                    or target not in record.in_sync
                    or target == source
                    or self._failed(target, symbol)
                    or counts[source] - counts[target] < 2
                    or now < self._cooldown.get(symbol, 0.0)
                    or not self._caught_up(symbol, target, source)
                ):
                    continue
                key = (-counts[source], symbol)
                if best is None or key < best:
                    best = key
            if best is not None:
                symbol = best[1]
                return self._open(symbol, self._records[symbol], target, "rebalance")
        return None

    def _caught_up(self, symbol: str, target: str, source: str) -> bool:
        theirs = self._engines[target].reports.get(symbol)
        ours = self._engines[source].reports.get(symbol)
        if theirs is None or ours is None:
            return False
        return theirs.journaled_seq >= ours.journaled_seq
