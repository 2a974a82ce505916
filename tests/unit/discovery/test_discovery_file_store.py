"""FileStore: compare-and-set in one JSON file, safe with two writers, epochs never reused."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from discovery_helpers import TIMINGS, Sim, at_epoch, make

from dome.discovery.file_store import FileStore
from dome.discovery.records import SymbolRecord
from dome.discovery.store import MemoryStore, StoreConflict, StoreError

RECORD = SymbolRecord(1, "e0", ("e1", "e2"), ("e0", "e1", "e2"))


@pytest.mark.parametrize("kind", ["memory", "file"])
async def test_compare_and_set_semantics(kind: str, tmp_path: Path) -> None:
    store = MemoryStore() if kind == "memory" else FileStore(tmp_path / "p.json")
    assert await store.load(["A"]) == {}
    v1 = await store.put("A", RECORD, None)
    with pytest.raises(StoreConflict):
        await store.put("A", RECORD, None)
    bumped = SymbolRecord(2, "", ("e0", "e1", "e2"), RECORD.in_sync)
    v2 = await store.put("A", bumped, v1)
    assert v2 != v1
    with pytest.raises(StoreConflict):
        await store.put("A", RECORD, v1)
    loaded = await store.load(["A", "B"])
    assert list(loaded) == ["A"]
    assert loaded["A"].record == bumped
    assert loaded["A"].version == v2


async def test_the_file_survives_a_new_store_object(tmp_path: Path) -> None:
    path = tmp_path / "data" / "discovery-placement.json"
    version = await FileStore(path).put("A", RECORD, None)
    loaded = await FileStore(path).load(["A"])
    assert loaded["A"].record == RECORD
    assert loaded["A"].version == version
    assert json.loads(path.read_text())["symbols"]["A"]["primary"] == "e0"
    assert not list(path.parent.glob("*.tmp")), "temporary file left behind"


async def test_a_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("{not json")
    with pytest.raises(StoreError):
        await FileStore(path).load(["A"])


async def test_two_stores_racing_on_one_file_never_both_win(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    base = await FileStore(path).put("A", RECORD, None)
    racers = [FileStore(path) for _ in range(8)]
    results = await asyncio.gather(
        *(
            store.put("A", SymbolRecord(2, "", RECORD.followers, (f"r{i}",)), base)
            for i, store in enumerate(racers)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1, results
    assert all(isinstance(r, StoreConflict) for r in results if not isinstance(r, str))
    assert (await FileStore(path).load(["A"]))["A"].version == winners[0]


async def drive(sim: Sim, store: FileStore, seconds: float, alive: list[str], seq: int) -> None:
    """``Sim.run`` persisting through ``store``; the primary marks followers in sync."""
    end = sim.now + seconds
    while sim.now < end:
        for engine in alive:
            epoch = sim.core.records()["A"].record.epoch if "A" in sim.core.records() else 0
            sim.beat(engine, [at_epoch("A", epoch, seq)])
        sim.now += 0.05
        proposals = sim.core.tick(sim.now)
        current = sim.core.records().get("A")
        if not proposals and current is not None and current.record.primary:
            record = current.record
            decision = sim.core.update_in_sync("A", record.epoch, record.primary, [*record.members])
            if decision.proposal is not None:
                proposals.append(decision.proposal)
        for proposal in proposals:
            try:
                version = await store.put(proposal.symbol, proposal.record, proposal.expected)
            except StoreConflict:
                stored = await store.load([proposal.symbol])
                sim.core.adopt(proposal.symbol, stored.get(proposal.symbol), sim.now)
                continue
            sim.core.commit(proposal, version, sim.now)
        sim.core.check_invariants()


async def test_epochs_keep_rising_across_restarts_and_are_never_reused(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "p.json")
    seen: list[int] = []
    engines = ["e0", "e1", "e2"]
    sim = make(["A"], expected=3)
    for engine in engines:
        sim.register(engine)
    await drive(sim, store, 0.2, engines, 1)
    for round_ in range(4):
        record = (await store.load(["A"]))["A"].record
        seen.append(record.epoch)
        survivors = [e for e in engines if e != record.primary]
        # Discovery restarts; the primary never comes back.
        sim = make(["A"], expected=3)
        sim.now = 1000.0 * (round_ + 1)
        sim.core = type(sim.core)(sim.core.config, sim.now)
        sim.core.load(await store.load(["A"]), sim.now)
        for engine in survivors:
            sim.register(engine, inc=f"r{round_}")
        await drive(sim, store, TIMINGS.recovery + 1.0, survivors, round_ + 2)
        engines = [*survivors, f"n{round_}"]
        sim.register(f"n{round_}")
    final = (await store.load(["A"]))["A"].record
    seen.append(final.epoch)
    assert seen == sorted(set(seen)), f"an epoch was reused or went back: {seen}"
    assert final.primary != ""
