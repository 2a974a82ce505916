"""Evacuating engines before they are removed (a scale-down), in the pure core.

Every replica moves off the leaving engines before they go: their primaries by planned
election, their followers by a replacement that joins first and must be in sync (acks
``all``) or caught up (``majority``) before the leaving follower is dropped. No symbol
ever has fewer in-sync replicas than the replication factor on the way.
"""

from __future__ import annotations

from dataclasses import replace

from discovery_helpers import Sim, make, placed, symbols

from dome.discovery.core import EvacuationStatus
from dome.discovery.records import Acks
from dome.discovery.runtime_config import RuntimeConfig

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


def test_a_cancelled_evacuation_trims_each_symbol_back_to_its_factor() -> None:
    """The replacement joined beside the leaving follower; cancelling must not leave the
    symbol one replica over its factor for good (repair used to only ever add)."""
    syms = symbols(8)
    sim = four(syms)
    run_evacuating(sim, 0.2)
    sim.core.evacuate(["e3"], sim.now)
    run_evacuating(sim, 0.3, caught_up=False)
    assert any(len(sim.record(s).members) == 4 for s in syms), "a replacement joined"
    sim.core.evacuate([], sim.now)
    run_evacuating(sim, 0.5)

    for symbol in syms:
        record = sim.record(symbol)
        assert len(record.members) == 3, f"{symbol} kept {record.members}"
        assert sorted(record.in_sync) == sorted(record.members)


def test_a_lowered_engines_expected_evacuates_the_top_ordinals() -> None:
    """What the operator's scale-down writes into the ConfigMap: engines 4 -> 3."""
    engines = [f"engine-{n}" for n in range(4)]
    syms = symbols(8)
    sim = placed(make(syms, expected=4), engines, syms)
    runtime = RuntimeConfig(tuple(syms), 3, Acks.ALL, engines_expected=4)

    def run(seconds: float) -> None:
        end = sim.now + seconds
        while sim.now < end - 1e-9:
            for engine in engines:
                sim.beat(engine, sim.live_reports(engine, {}))
            sim.step()
            catch_up(sim)
            for symbol in syms:
                in_sync = sim.record(symbol).in_sync
                assert len(in_sync) >= 3, f"{symbol} dropped to {in_sync} at {sim.now:.2f}"

    sim.core.reconfigure(runtime.onto(sim.core.config), sim.now)
    run(0.2)
    assert on(sim, "engine-3"), "enginesExpected 4 keeps engine-3's replicas"
    assert sim.core.evacuation(sim.now).leaving == ()

    sim.core.reconfigure(replace(runtime, engines_expected=3).onto(sim.core.config), sim.now)
    assert sim.core.evacuation(sim.now).leaving == ("engine-3",)
    run(1.0)
    assert on(sim, "engine-3") == []
    assert sim.core.evacuation(sim.now).done
    assert "engine-3" not in sim.core.serving_engines(sim.now)

    # Scaling back up cancels: engine-3 takes roles again and nothing is over its factor.
    sim.core.reconfigure(runtime.onto(sim.core.config), sim.now)
    assert sim.core.evacuation(sim.now).leaving == ()
    run(0.5)
    assert "engine-3" in sim.core.serving_engines(sim.now)
    assert all(len(sim.record(s).members) == 3 for s in syms)
