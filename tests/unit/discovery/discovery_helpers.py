"""A fake clock and a synchronous compare-and-set store around the pure Coordinator."""

from __future__ import annotations

from dataclasses import dataclass, field

from dome.discovery.core import Coordinator, CoreConfig, Timings
from dome.discovery.records import Acks, Proposal, Report, SymbolRecord, Versioned

TIMINGS = Timings()


@dataclass
class Sim:
    """A Coordinator, its store and a clock; ``step`` ticks and commits like the driver."""

    core: Coordinator
    now: float = 0.0
    store: dict[str, Versioned] = field(default_factory=dict)
    counter: int = 0
    incarnations: dict[str, str] = field(default_factory=dict)

    def put(self, proposal: Proposal) -> bool:
        current = self.store.get(proposal.symbol)
        if (current.version if current else None) != proposal.expected:
            self.core.adopt(proposal.symbol, current, self.now)
            return False
        self.counter += 1
        self.store[proposal.symbol] = Versioned(proposal.record, str(self.counter))
        self.core.commit(proposal, str(self.counter), self.now)
        return True

    def step(self, dt: float = 0.05) -> list[Proposal]:
        self.now += dt
        proposals = self.core.tick(self.now)
        for proposal in proposals:
            self.put(proposal)
        self.core.check_invariants()
        return proposals

    def register(self, engine: str, reports: list[Report] | None = None, inc: str = "i1") -> None:
        self.incarnations[engine] = inc
        self.core.register(engine, inc, f"{engine}:1", "", reports or [], self.now)

    def beat(self, engine: str, reports: list[Report] | None = None) -> None:
        self.core.heartbeat(engine, self.incarnations[engine], reports or [], self.now)

    def run(
        self, seconds: float, alive: list[str], reports: dict[str, list[Report]] | None = None
    ) -> None:
        """Advance ``seconds`` with ``alive`` engines heartbeating every 0.2 s."""
        end = self.now + seconds
        next_beat = self.now
        while self.now < end - 1e-9:
            if self.now >= next_beat:
                for engine in alive:
                    self.beat(engine, (reports or {}).get(engine))
                next_beat = self.now + TIMINGS.heartbeat_interval
            self.step()

    def record(self, symbol: str) -> SymbolRecord:
        return self.store[symbol].record

    def live_reports(self, engine: str, seq: dict[tuple[str, str], int]) -> list[Report]:
        """What a real replica reports: every symbol it is a member of, at the current epoch.

        ``seq[(engine, symbol)]`` is its journaled sequence (default 10).
        """
        return [
            Report(s, epoch=v.record.epoch, journaled_seq=seq.get((engine, s), 10))
            for s, v in sorted(self.store.items())
            if engine in v.record.members
        ]

    def run_live(
        self, seconds: float, alive: list[str], seq: dict[tuple[str, str], int] | None = None
    ) -> None:
        """``run`` with reports that follow the placement, like engines heartbeating at once
        on every change (so an election hears everyone within a step)."""
        end = self.now + seconds
        while self.now < end - 1e-9:
            for engine in alive:
                self.beat(engine, self.live_reports(engine, seq or {}))
            self.step()


def make(
    symbols: list[str],
    *,
    rf: int = 3,
    acks: Acks = Acks.ALL,
    expected: int = 1,
    timings: Timings = TIMINGS,
) -> Sim:
    config = CoreConfig(tuple(symbols), rf, acks, expected, timings)
    return Sim(Coordinator(config, 0.0))


def symbols(n: int) -> list[str]:
    return [f"S{i:02d}" for i in range(n)]


def placed(sim: Sim, engines: list[str], syms: list[str]) -> Sim:
    """Register ``engines`` and run until the first placement exists."""
    for engine in engines:
        sim.register(engine)
    sim.step()
    assert set(sim.store) == set(syms), "first placement not made"
    return sim


def at_epoch(symbol: str, epoch: int, seq: int) -> Report:
    return Report(symbol, epoch=epoch, journaled_seq=seq, last_epoch=epoch - 1)
