"""What discovery's coordinator holds, and the lease arithmetic every decision reads.

``dome.discovery.core.Coordinator`` is the state machine (its docstring holds the safety
rules); this module is its memory: the configuration and timings, the engines with their
leases and reports, the placement records and the open elections, with the questions
about liveness that inputs and decisions both ask. ``dome.discovery.decisions`` decides
on top of it and ``Coordinator`` takes inputs on top of that, so calls run one way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from dome.discovery.records import Acks, Report, Versioned


@dataclass(frozen=True)
class Timings:
    """Lease and election timings, in seconds."""

    lease_ttl: float = 1.0
    heartbeat_interval: float = 0.2
    #: Extra time discovery waits beyond the TTL before declaring an engine dead.
    grace: float = 0.5
    #: How long an election waits for slow eligible replicas once the old primary is dead.
    election_timeout: float = 0.5
    #: How long the first placement waits for ``engines_expected`` engines.
    startup_grace: float = 3.0
    #: Minimum time between two planned moves of one symbol.
    rebalance_cooldown: float = 5.0

    #: How long an engine may take to notice a restarted discovery: its channel's
    #: longest reconnect backoff (``dome.tls.RECONNECT_OPTIONS``) plus a heartbeat or two.
    reconnect: float = 1.5

    @property
    def recovery(self) -> float:
        """After a discovery restart, how long stored primaries have to re-register."""
        return self.dead_after + self.reconnect

    @property
    def dead_after(self) -> float:
        return self.lease_ttl + self.grace


@dataclass(frozen=True)
class CoreConfig:
    """What the core is told at start."""

    symbols: tuple[str, ...]
    replication_factor: int = 3
    acks: Acks = Acks.ALL
    engines_expected: int = 1
    timings: Timings = field(default_factory=Timings)
    #: Engines named ``engine-<n>`` with ``n`` at or above this are leaving (evacuated
    #: as by ``evacuate``); None: none is. Set from the ConfigMap the operator writes
    #: (``dome.discovery.runtime_config``), whose ``enginesExpected`` is the engine
    #: StatefulSet's target size: the pods a scale-down removes are its top ordinals.
    leaving_from_ordinal: int | None = None


def engine_ordinal(engine_id: str) -> int | None:
    """The StatefulSet ordinal in ``engine-<n>`` or ``NAME-engine-<n>`` (on Kubernetes an
    engine's id is its pod's name), or None for any other id.

    >>> engine_ordinal("engine-12"), engine_ordinal("demo-engine-2"), engine_ordinal("e1")
    (12, 2, None)
    >>> engine_ordinal("engine-x"), engine_ordinal("myengine-3")
    (None, None)
    """
    prefix, _, number = engine_id.rpartition("-")
    if (prefix != "engine" and not prefix.endswith("-engine")) or not number.isdigit():
        return None
    return int(number)


@dataclass
class EngineLease:
    """A registered engine: its process, addresses, last heartbeat and latest reports."""

    engine_id: str
    incarnation: str
    address: str
    metrics_url: str
    last_heard: float
    reports: dict[str, Report]
    #: Handing off its primaries before it stops (``drain``); ends with the incarnation.
    draining: bool = False
    #: Where it serves replication; empty: through ``address`` (no peer port, or older).
    peer_address: str = ""


@dataclass(frozen=True)
class Election:
    """An open election of a symbol: since when, who led before, whom a move prefers."""

    opened_at: float
    #: The primary before the election; None when unknown (resumed from the store).
    old_primary: str | None
    #: The preferred winner of a planned move.
    target: str | None


@dataclass(frozen=True)
class Event:
    """Something the driver logs and counts: ``kind`` is a small closed set."""

    kind: str
    symbol: str = ""
    engine: str = ""
    detail: str = ""


class CoordinatorState:
    """The coordinator's fields and its liveness helpers (no decisions, no inputs)."""

    def __init__(self, config: CoreConfig, now: float) -> None:
        self.config = config
        self.timings = config.timings
        self.started_at = now
        self.version = 0
        self.events: list[Event] = []
        self._engines: dict[str, EngineLease] = {}
        self._records: dict[str, Versioned] = {}
        self._elections: dict[str, Election] = {}
        self._seq: dict[str, int] = {}
        self._alive: frozenset[str] = frozenset()
        self._reset: set[str] = set()
        self._cooldown: dict[str, float] = {}
        self._recovering_until = now
        self._unconfirmed: set[str] = set()
        #: Drain targets chosen in the current tick (not committed yet).
        self._chosen: Counter[str] = Counter()
        #: Engines being evacuated before they are removed: treated as draining, and
        #: their followers are replaced. Those named by ``evacuate`` (not stored: whoever
        #: scales down says it again until the evacuation is done, and after a restart)
        #: and those at or above ``config.leaving_from_ordinal`` (``_refresh_leaving``).
        self._evacuate_requested: frozenset[str] = frozenset()
        self._leaving: frozenset[str] = frozenset()

    def _refresh_leaving(self) -> None:
        """Recompute ``_leaving`` from the request and the ordinal limit over every id
        known (registered or holding a replica); an event and a new version on change."""
        limit = self.config.leaving_from_ordinal
        by_ordinal: set[str] = set()
        if limit is not None:
            known = set(self._engines)
            for versioned in self._records.values():
                known.update(versioned.record.members)
            for engine_id in known:
                ordinal = engine_ordinal(engine_id)
                if ordinal is not None and ordinal >= limit:
                    by_ordinal.add(engine_id)
        leaving = self._evacuate_requested | by_ordinal
        if leaving != self._leaving:
            self._leaving = leaving
            self.version += 1
            self.events.append(Event("evacuating", detail=",".join(sorted(leaving))))

    def _alive_at(self, engine: EngineLease, now: float) -> bool:
        return now - engine.last_heard <= self.timings.dead_after

    def _is_alive(self, engine_id: str, now: float) -> bool:
        engine = self._engines.get(engine_id)
        return engine is not None and self._alive_at(engine, now)

    def _draining(self, engine_id: str) -> bool:
        if engine_id in self._leaving:
            return True
        engine = self._engines.get(engine_id)
        return engine is not None and engine.draining

    def _movable_to(self, engine_id: str, now: float) -> bool:
        """Whether ``engine_id`` may take a role: alive and not draining."""
        return self._is_alive(engine_id, now) and not self._draining(engine_id)

    def _primary_of(self, engine_id: str) -> bool:
        return any(v.record.primary == engine_id for v in self._records.values())
