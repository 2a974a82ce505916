"""Graceful leave in the pure core: a draining engine hands its primaries off by election."""

from __future__ import annotations

from collections import Counter

import pytest
from discovery_helpers import TIMINGS, Sim, make, placed, symbols

from dome.discovery.core import DrainStatus, UnknownEngine
from dome.discovery.records import Acks

DEAD = TIMINGS.dead_after + 0.1
ENGINES = ["e0", "e1", "e2"]
#: Less than the election timeout: a move decided within this did not wait for one.
QUICK = TIMINGS.election_timeout * 0.6


def three(syms: list[str], acks: Acks = Acks.ALL) -> Sim:
    return placed(make(syms, acks=acks, expected=3), ENGINES, syms)


def led_by(sim: Sim, engine: str) -> list[str]:
    return sorted(s for s in sim.store if sim.record(s).primary == engine)


def epochs(sim: Sim) -> dict[str, int]:
    return {s: v.record.epoch for s, v in sim.store.items()}


def event_kinds(sim: Sim) -> Counter[str]:
    return Counter(e.kind for e in sim.core.events)


def test_a_drain_moves_every_primary_to_an_in_sync_follower_at_once() -> None:
    syms = symbols(6)
    sim = three(syms)
    sim.run_live(0.1, ENGINES)
    moving = led_by(sim, "e0")
    assert len(moving) == 2
    before = epochs(sim)
    sim.core.events.clear()

    assert sim.core.drain("e0", "i1", sim.now) == DrainStatus(primaries=2, stranded=0)
    sim.step()
    assert all(sim.record(s).primary == "" for s in moving), "moves open together"
    sim.run_live(QUICK, ENGINES)

    assert led_by(sim, "e0") == []
    for s in syms:
        record = sim.record(s)
        assert record.primary in ("e1", "e2")
        assert record.epoch == before[s] + (1 if s in moving else 0), "one epoch per move"
        if s in moving:
            assert record.primary in sim.store[s].record.in_sync
            assert "e0" in record.followers, "the old primary stays a follower"
    kinds = event_kinds(sim)
    assert kinds["election_opened"] == kinds["elected"] == 2
    assert kinds["lease_expired"] == 0
    assert {e.detail for e in sim.core.events if e.kind == "election_opened"} == {"drain"}
    assert {e.detail for e in sim.core.events if e.kind == "elected"} == {"planned"}
    assert sim.core.drain("e0", "i1", sim.now) == DrainStatus(0, 0)
    assert [e.draining for e in sim.core.engines(sim.now)] == [True, False, False]
    assert "e0" not in sim.core.serving_engines(sim.now)

    # It stays a follower until its lease ends; then it is removed as usual, and
    # nothing fails over: it led nothing.
    after = epochs(sim)
    sim.run_live(DEAD + 0.2, ["e1", "e2"])
    assert epochs(sim) == after
    for s in syms:
        record = sim.record(s)
        assert "e0" not in record.members
        assert record.primary in ("e1", "e2")
    assert not sim.core.open_elections()


def test_a_drain_spreads_the_moved_primaries_over_the_remaining_engines() -> None:
    syms = symbols(6)
    sim = three(syms)
    sim.run_live(0.1, ENGINES)
    sim.core.drain("e0", "i1", sim.now)
    sim.run_live(QUICK, ENGINES)
    assert Counter(sim.record(s).primary for s in syms) == {"e1": 3, "e2": 3}


def test_the_drained_primary_never_wins_even_with_a_longer_journal() -> None:
    """An unacknowledged tail on the old primary does not keep it in charge."""
    sim = three(["A"])
    sim.run_live(0.1, ENGINES)
    assert sim.record("A").primary == "e0"
    sim.core.drain("e0", "i1", sim.now)
    seq = {("e0", "A"): 20, ("e1", "A"): 17, ("e2", "A"): 18}
    sim.run_live(QUICK, ENGINES, seq)
    record = sim.record("A")
    assert (record.primary, record.epoch) == ("e2", 2), "the follower holding most wins"
    assert set(record.in_sync) == set(ENGINES)


def test_nothing_moves_to_a_draining_engine() -> None:
    syms = symbols(6)
    sim = three(syms)
    sim.run_live(0.1, ENGINES)
    before = epochs(sim)
    # e1 holds the longest journals: it would win every election if it could.
    seq = {("e1", s): 99 for s in syms}
    sim.core.drain("e1", "i1", sim.now)
    sim.core.drain("e0", "i1", sim.now)
    sim.run_live(QUICK, ENGINES, seq)
    assert {sim.record(s).primary for s in syms} == {"e2"}
    for s, epoch in before.items():
        moved = epoch != sim.record(s).epoch
        assert sim.record(s).epoch == epoch + moved


def test_a_draining_follower_never_wins_a_failover() -> None:
    sim = three(["A"])
    sim.run_live(0.1, ENGINES)
    sim.core.drain("e1", "i1", sim.now)
    seq = {("e1", "A"): 50, ("e2", "A"): 40}
    sim.run_live(DEAD + QUICK, ["e1", "e2"], seq)
    record = sim.record("A")
    assert (record.primary, record.epoch) == ("e2", 2)


def test_draining_an_engine_that_leads_nothing_is_a_no_op() -> None:
    sim = three(["A", "B"])
    sim.run_live(0.1, ENGINES)
    idle = next(e for e in ENGINES if not led_by(sim, e))
    before = dict(sim.store)
    assert sim.core.drain(idle, "i1", sim.now) == DrainStatus(0, 0)
    sim.run_live(1.0, ENGINES)
    assert sim.store == before
    assert event_kinds(sim)["election_opened"] == 0


def test_a_drain_with_nobody_to_hand_to_is_stranded_and_changes_nothing() -> None:
    sim = placed(make(["A", "B"]), ["e0"], ["A", "B"])
    before = dict(sim.store)
    assert sim.core.drain("e0", "i1", sim.now) == DrainStatus(primaries=2, stranded=2)
    sim.run_live(1.0, ["e0"])
    assert sim.store == before


def test_when_every_engine_drains_the_last_one_is_stranded() -> None:
    syms = symbols(3)
    sim = three(syms)
    sim.run_live(0.1, ENGINES)
    for engine in ENGINES:
        sim.core.drain(engine, "i1", sim.now)
    sim.run_live(QUICK, ENGINES)
    assert not sim.core.open_elections()
    statuses = [sim.core.drain(e, "i1", sim.now) for e in ENGINES]
    assert all(status.primaries == status.stranded for status in statuses)


def test_a_drain_waits_for_a_follower_to_be_in_sync() -> None:
    sim = placed(make(["A"], expected=2), ["e0", "e1"], ["A"])
    decision = sim.core.update_in_sync("A", 1, "e0", ["e0"])
    assert decision.proposal is not None
    sim.put(decision.proposal)
    assert sim.core.drain("e0", "i1", sim.now) == DrainStatus(1, 0), "e1 may catch up"
    sim.run_live(1.0, ["e0", "e1"])
    assert (sim.record("A").primary, sim.record("A").epoch) == ("e0", 1)
    decision = sim.core.update_in_sync("A", 1, "e0", ["e0", "e1"])
    assert decision.proposal is not None
    sim.put(decision.proposal)
    sim.run_live(QUICK, ["e0", "e1"])
    assert (sim.record("A").primary, sim.record("A").epoch) == ("e1", 2)


def test_majority_moves_only_when_the_others_are_a_majority() -> None:
    sim = three(["A"], acks=Acks.MAJORITY)
    sim.run_live(0.1, ENGINES)
    sim.core.drain("e2", "i1", sim.now)  # a draining follower: e0 and e1 still are two of 3
    sim.core.drain("e0", "i1", sim.now)
    sim.run_live(QUICK, ENGINES)
    assert sim.record("A").primary == "e0", "e1 alone is no majority of three"
    assert sim.record("A").epoch == 1


def test_majority_drain_hands_off_to_the_most_advanced_of_a_majority() -> None:
    sim = three(["A"], acks=Acks.MAJORITY)
    sim.run_live(0.1, ENGINES)
    sim.core.drain("e0", "i1", sim.now)
    seq = {("e0", "A"): 30, ("e1", "A"): 25, ("e2", "A"): 28}
    sim.run_live(QUICK, ENGINES, seq)
    assert (sim.record("A").primary, sim.record("A").epoch) == ("e2", 2)


def test_a_draining_engine_gets_no_new_followers_or_primaries() -> None:
    syms = symbols(4)
    sim = make(syms, expected=2)
    sim.register("e0")
    sim.register("e1")
    sim.run_live(TIMINGS.startup_grace + 0.1, ["e0", "e1"])
    sim.register("e2")
    sim.core.drain("e2", "i1", sim.now)
    sim.run_live(TIMINGS.rebalance_cooldown + 1, ["e0", "e1", "e2"])
    for s in syms:
        assert "e2" not in sim.record(s).members, "a draining engine was given a replica"
    sim.register("e3")
    sim.run_live(0.2, ["e0", "e1", "e2", "e3"])
    assert all("e3" in sim.record(s).members for s in syms), "the spare is the other one"


def test_a_new_incarnation_is_not_draining_and_the_same_one_stays_draining() -> None:
    sim = three(["A"])
    sim.core.drain("e1", "i1", sim.now)
    sim.register("e1", inc="i1")
    assert [e.draining for e in sim.core.engines(sim.now)] == [False, True, False]
    sim.register("e1", inc="i2")
    assert [e.draining for e in sim.core.engines(sim.now)] == [False, False, False]


def test_a_drain_from_an_unknown_engine_or_incarnation_is_refused() -> None:
    sim = three(["A"])
    with pytest.raises(UnknownEngine):
        sim.core.drain("ghost", "i1", sim.now)
    with pytest.raises(UnknownEngine):
        sim.core.drain("e0", "other", sim.now)
    sim.now += DEAD
    with pytest.raises(UnknownEngine):
        sim.core.drain("e0", "i1", sim.now)


@pytest.mark.parametrize("acks", [Acks.ALL, Acks.MAJORITY])
def test_under_acks_all_the_planned_targets_win_under_majority_the_most_advanced(
    acks: Acks,
) -> None:
    syms = symbols(6)
    sim = three(syms, acks=acks)
    sim.run_live(0.1, ENGINES)
    moving = led_by(sim, "e0")
    # e1 is ahead on everything (entries in flight when the moves open).
    seq = {("e1", s): 12 for s in syms}
    sim.core.drain("e0", "i1", sim.now)
    sim.run_live(QUICK, ENGINES, seq)
    new = Counter(sim.record(s).primary for s in moving)
    if acks is Acks.ALL:
        # Any in-sync replica holds every acknowledged entry: the moves land as planned.
        assert new == {"e1": 1, "e2": 1}
    else:
        # Only the most advanced of a majority surely does.
        assert new == {"e1": 2}
