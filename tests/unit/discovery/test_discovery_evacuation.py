"""Evacuating engines before they are removed (a scale-down), in the pure core.

Every replica moves off the leaving engines before they go: their primaries by planned
election, their followers by a replacement that joins first and must be in sync (acks
``all``) or caught up (``majority``) before the leaving follower is dropped. No symbol
ever has fewer in-sync replicas than the replication factor on the way.
"""

from __future__ import annotations

from discovery_helpers import Sim, make, placed, symbols

from dome.discovery.core import EvacuationStatus
from dome.discovery.records import Acks

ENGINES = ["e0", "e1", "e2", "e3"]
STAYING = ["e0", "e1", "e2"]


def four(syms: list[str], acks: Acks = Acks.ALL) -> Sim:
    return placed(make(syms, acks=acks, expected=4), ENGINES, syms)


def catch_up(sim: Sim) -> None:
    """What each primary does once a new follower has caught up: UpdateInSync."""
    for symbol in sorted(sim.store):
        record = sim.record(symbol)
        if not record.primary or set(record.in_sync) == set(record.members):
            continue
        decision = sim.core.update_in_sync(
            symbol, record.epoch, record.primary, list(record.members)
        )
        assert decision.accepted
        if decision.proposal is not None:
            sim.put(decision.proposal)


def on(sim: Sim, engine: str) -> list[str]:
    return sorted(s for s in sim.store if engine in sim.record(s).members)


def run_evacuating(sim: Sim, seconds: float, *, caught_up: bool = True) -> None:
    """Engines heartbeat and primaries catch followers up; after every step, every symbol
    keeps at least R in-sync replicas."""
    end = sim.now + seconds
    while sim.now < end - 1e-9:
        for engine in ENGINES:
            sim.beat(engine, sim.live_reports(engine, {}))
        sim.step()
        if caught_up:
            catch_up(sim)
        for symbol in sorted(sim.store):
            in_sync = sim.record(symbol).in_sync
            assert len(in_sync) >= 3, f"{symbol} dropped to {in_sync} at {sim.now:.2f}"


def test_an_evacuation_moves_every_replica_off_without_shrinking_an_in_sync_set() -> None:
    syms = symbols(8)
    sim = four(syms)
    run_evacuating(sim, 0.2)
    held = on(sim, "e3")
    assert held, "the first placement gave e3 replicas"

    status = sim.core.evacuate(["e3"], sim.now)
    assert status.leaving == ("e3",)
    assert status.replicas_left == len(held)
    assert not status.done
    run_evacuating(sim, 1.0)

    assert on(sim, "e3") == []
    for symbol in syms:
        record = sim.record(symbol)
        assert record.primary in STAYING
        assert sorted(record.members) == STAYING
        assert sorted(record.in_sync) == STAYING
    assert sim.core.evacuate(["e3"], sim.now) == EvacuationStatus(("e3",), 0, 0)
    assert sim.core.evacuation(sim.now).done
    assert "e3" not in sim.core.serving_engines(sim.now)


def test_the_leaving_follower_stays_until_its_replacement_is_in_sync() -> None:
    syms = symbols(8)
    sim = four(syms)
    run_evacuating(sim, 0.2)
    held = on(sim, "e3")
    sim.core.evacuate(["e3"], sim.now)
    run_evacuating(sim, 1.0, caught_up=False)  # no primary reports its newcomer in sync

    assert on(sim, "e3") == held, "nothing left e3 before a replacement held its data"
    for symbol in held:
        assert len(sim.record(symbol).members) == 4, "the replacement joined beside it"
    status = sim.core.evacuation(sim.now)
    assert status.replicas_left == len(held)
    assert not status.done

    catch_up(sim)
    run_evacuating(sim, 0.3)
    assert on(sim, "e3") == []
    assert sim.core.evacuation(sim.now).done


def test_under_majority_a_replacement_must_report_the_primarys_sequence() -> None:
    syms = symbols(4)
    sim = four(syms, acks=Acks.MAJORITY)
    for engine in ENGINES:
        sim.beat(engine, sim.live_reports(engine, {}))
    sim.step()
    held = on(sim, "e3")
    sim.core.evacuate(["e3"], sim.now)
    # The newcomers report nothing journaled yet: behind every primary.
    for _ in range(20):
        for engine in ENGINES:
            behind = {(engine, s): 0 for s in syms if engine not in sim.record(s).in_sync}
            sim.beat(engine, sim.live_reports(engine, behind))
        sim.step()
    assert on(sim, "e3") == [s for s in held if sim.record(s).primary != ""]
    assert all(sim.record(s).primary != "e3" for s in syms), "its primaries moved"
    assert not sim.core.evacuation(sim.now).done

    for _ in range(20):  # now caught up (every replica at the same sequence)
        for engine in ENGINES:
            sim.beat(engine, sim.live_reports(engine, {}))
        sim.step()
    assert on(sim, "e3") == []
    assert sim.core.evacuation(sim.now).done


def test_an_empty_evacuation_cancels_and_the_engine_takes_roles_again() -> None:
    syms = symbols(8)
    sim = four(syms)
    run_evacuating(sim, 0.2)
    held = on(sim, "e3")
    sim.core.evacuate(["e3"], sim.now)
    run_evacuating(sim, 0.3, caught_up=False)
    status = sim.core.evacuate([], sim.now)
    assert status.leaving == ()
    run_evacuating(sim, 0.5)

    assert set(held) <= set(on(sim, "e3")), "a cancelled evacuation drops nothing"
    assert "e3" in sim.core.serving_engines(sim.now)
    assert sim.core.evacuation(sim.now).done


def test_an_evacuation_to_fewer_engines_than_the_factor_keeps_what_fits() -> None:
    """Three engines, R=3, one leaving: two stay, so every symbol ends on both."""
    syms = symbols(3)
    sim = placed(make(syms, acks=Acks.ALL, expected=3), ["e0", "e1", "e2"], syms)
    for engine in ("e0", "e1", "e2"):
        sim.beat(engine, sim.live_reports(engine, {}))
    sim.step()
    sim.core.evacuate(["e2"], sim.now)
    for _ in range(30):
        for engine in ("e0", "e1", "e2"):
            sim.beat(engine, sim.live_reports(engine, {}))
        sim.step()
        catch_up(sim)
    for symbol in syms:
        assert sorted(sim.record(symbol).members) == ["e0", "e1"]
        assert sorted(sim.record(symbol).in_sync) == ["e0", "e1"]
    assert sim.core.evacuation(sim.now).done
