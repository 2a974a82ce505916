"""The pure placement logic: spread, failover elections, repairs, in-sync updates, handoff."""

from __future__ import annotations

from collections import Counter

import pytest
from discovery_helpers import TIMINGS, at_epoch, make, placed, symbols

from dome.discovery.codec import placement_from_pb, placement_to_pb
from dome.discovery.core import UnknownEngine
from dome.discovery.records import Acks, Report, SymbolRecord, Versioned

DEAD = TIMINGS.dead_after + 0.1


@pytest.mark.parametrize("n_engines", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("n_symbols", [4, 5, 7, 12])
def test_first_placement_spreads_primaries_evenly(n_engines: int, n_symbols: int) -> None:
    syms = symbols(n_symbols)
    engines = [f"e{i}" for i in range(n_engines)]
    sim = placed(make(syms, expected=n_engines), engines, syms)
    primaries = Counter(sim.record(s).primary for s in syms)
    assert set(primaries) == set(engines[: min(n_engines, n_symbols)])
    assert max(primaries.values()) - min(primaries.values()) <= 1
    for s in syms:
        record = sim.record(s)
        assert len(record.members) == len(set(record.members)) == min(3, n_engines)
        assert set(record.in_sync) == set(record.members)
        assert record.epoch == 1


def test_first_placement_waits_for_the_expected_engines_or_the_startup_grace() -> None:
    sim = make(["A", "B"], expected=3)
    sim.register("e0")
    sim.register("e1")
    sim.step()
    assert not sim.store
    sim.run(TIMINGS.startup_grace, ["e0", "e1"])
    assert {sim.record(s).primary for s in ["A", "B"]} == {"e0", "e1"}


def test_a_lapsed_primary_opens_an_election_and_the_highest_sequence_wins() -> None:
    sim = placed(make(["A"], expected=3), ["e0", "e1", "e2"], ["A"])
    sim.run(TIMINGS.dead_after - 0.2, ["e1", "e2"])
    assert sim.record("A").primary == "e0", "declared dead before ttl + grace"
    sim.run(0.3, ["e1", "e2"])
    opened = sim.record("A")
    assert (opened.epoch, opened.primary) == (2, "")
    sim.run(0.2, ["e1", "e2"], {"e1": [at_epoch("A", 2, 5)], "e2": [at_epoch("A", 2, 7)]})
    elected = sim.record("A")
    assert (elected.epoch, elected.primary) == (2, "e2")
    assert "e0" not in elected.in_sync
    sim.run(0.2, ["e1", "e2"], {"e1": [at_epoch("A", 2, 7)], "e2": [at_epoch("A", 2, 7)]})
    assert sim.record("A").followers == ("e1",), "the dead old primary stays a follower"
    assert sim.core.view(sim.now).symbol("A").seq == 7  # type: ignore[union-attr]


def test_reports_from_the_old_epoch_do_not_count() -> None:
    sim = placed(make(["A"], expected=3), ["e0", "e1", "e2"], ["A"])
    sim.run(DEAD + 2, ["e1", "e2"], {"e1": [at_epoch("A", 1, 9)], "e2": [at_epoch("A", 1, 9)]})
    assert sim.record("A").primary == ""


def test_acks_all_never_promotes_an_out_of_sync_replica() -> None:
    sim = placed(make(["A"], expected=3), ["e0", "e1", "e2"], ["A"])
    decision = sim.core.update_in_sync("A", 1, "e0", ["e0", "e1"])
    assert decision.accepted
    assert decision.proposal is not None
    sim.put(decision.proposal)
    reports = {"e1": [at_epoch("A", 2, 3)], "e2": [at_epoch("A", 2, 99)]}
    sim.run(DEAD + 1, ["e1", "e2"], reports)
    assert sim.record("A").primary == "e1"
    assert sim.record("A").in_sync == ("e1",)


def test_an_election_waits_for_slow_eligible_replicas_until_the_timeout() -> None:
    sim = placed(make(["A"], expected=3), ["e0", "e1", "e2"], ["A"])
    sim.run(DEAD, ["e1", "e2"])
    assert sim.record("A").primary == ""
    sim.run(TIMINGS.election_timeout / 4, ["e1", "e2"], {"e1": [at_epoch("A", 2, 4)]})
    assert sim.record("A").primary == "", "decided without e2 before the timeout"
    sim.run(TIMINGS.election_timeout, ["e1", "e2"], {"e1": [at_epoch("A", 2, 4)]})
    assert sim.record("A").primary == "e1"


def test_majority_needs_reports_from_a_majority_of_the_replica_set() -> None:
    sim = placed(make(["A"], acks=Acks.MAJORITY, expected=3), ["e0", "e1", "e2"], ["A"])
    sim.run(DEAD + 2, ["e1", "e2"], {"e1": [at_epoch("A", 2, 4)]})
    assert sim.record("A").primary == "", "one report of three decided"
    sim.run(0.3, ["e1", "e2"], {"e1": [at_epoch("A", 2, 4)], "e2": [at_epoch("A", 2, 6)]})
    assert sim.record("A").primary == "e2"


def test_majority_with_one_replica_left_stays_open() -> None:
    sim = placed(make(["A"], acks=Acks.MAJORITY, expected=3), ["e0", "e1", "e2"], ["A"])
    sim.run(DEAD + 3, ["e1"], {"e1": [at_epoch("A", 2, 4)]})
    assert sim.record("A").primary == ""


def test_with_nobody_eligible_alive_the_election_stays_open_until_one_returns() -> None:
    sim = placed(make(["A"], expected=3), ["e0", "e1", "e2"], ["A"])
    decision = sim.core.update_in_sync("A", 1, "e0", ["e0", "e1"])
    assert decision.proposal is not None
    sim.put(decision.proposal)
    sim.run(DEAD + 3, ["e2"], {"e2": [at_epoch("A", 2, 50)]})
    assert sim.record("A").primary == ""
    assert sim.core.stuck_elections(sim.now) == ["A"]
    sim.register("e1", [at_epoch("A", 2, 10)], inc="i2")
    sim.run(0.3, ["e1", "e2"], {"e1": [at_epoch("A", 2, 10)], "e2": [at_epoch("A", 2, 50)]})
    assert sim.record("A").primary == "e1"
    assert sim.core.stuck_elections(sim.now) == []


def test_a_restarted_primary_loses_its_role_through_an_election() -> None:
    sim = placed(make(["A"], expected=3), ["e0", "e1", "e2"], ["A"])
    sim.register("e0", [Report("A", epoch=1, journaled_seq=3)], inc="i2")
    sim.step()
    assert (sim.record("A").epoch, sim.record("A").primary) == (2, "")
    reports = {e: [at_epoch("A", 2, 3)] for e in ["e0", "e1", "e2"]}
    sim.run(0.3, ["e0", "e1", "e2"], reports)
    assert sim.record("A").primary == "e0", "tie: lowest id"
    assert sim.record("A").epoch == 2


def test_heartbeats_from_unknown_stale_or_lapsed_engines_are_refused() -> None:
    sim = placed(make(["A"]), ["e0"], ["A"])
    with pytest.raises(UnknownEngine):
        sim.core.heartbeat("nobody", "i1", [], sim.now)
    with pytest.raises(UnknownEngine):
        sim.core.heartbeat("e0", "old", [], sim.now)
    sim.now += DEAD
    with pytest.raises(UnknownEngine):
        sim.core.heartbeat("e0", "i1", [], sim.now)
    sim.register("e0")
    sim.beat("e0")


def test_update_in_sync_accepts_only_the_current_primary_and_epoch() -> None:
    sim = placed(make(["A"], expected=3), ["e0", "e1", "e2"], ["A"])
    assert not sim.core.update_in_sync("A", 2, "e0", ["e0"]).accepted, "future epoch"
    assert not sim.core.update_in_sync("A", 1, "e1", ["e1"]).accepted, "not the primary"
    assert not sim.core.update_in_sync("A", 1, "e0", ["e1"]).accepted, "primary left out"
    assert not sim.core.update_in_sync("A", 1, "e0", ["e0", "zz"]).accepted, "outsider"
    assert not sim.core.update_in_sync("B", 1, "e0", ["e0"]).accepted, "unknown symbol"
    same = sim.core.update_in_sync("A", 1, "e0", ["e2", "e1", "e0"])
    assert same.accepted
    assert same.proposal is None
    shrink = sim.core.update_in_sync("A", 1, "e0", ["e0", "e2"])
    assert shrink.accepted
    assert shrink.proposal is not None
    assert sim.put(shrink.proposal)
    assert sim.record("A").in_sync == ("e0", "e2")


def test_a_dead_follower_is_replaced_by_a_spare_engine_not_in_sync() -> None:
    sim = placed(make(["A"], expected=4), ["e0", "e1", "e2", "e3"], ["A"])
    assert sim.record("A").members == ("e0", "e1", "e2")
    sim.run(DEAD + 0.2, ["e0", "e2", "e3"])
    record = sim.record("A")
    assert (record.primary, record.followers, record.in_sync) == ("e0", ("e2", "e3"), ("e0", "e2"))
    assert record.epoch == 1


def test_a_dead_follower_without_spare_just_leaves() -> None:
    sim = placed(make(["A"], expected=3), ["e0", "e1", "e2"], ["A"])
    sim.run(DEAD + 0.2, ["e0", "e1"])
    assert sim.record("A").members == ("e0", "e1")
    assert sim.record("A").in_sync == ("e0", "e1")


def test_a_returning_engine_fills_replica_sets_below_r() -> None:
    sim = placed(make(["A", "B"], expected=3), ["e0", "e1", "e2"], ["A", "B"])
    sim.run(DEAD + 0.2, ["e0", "e1"])
    assert all(len(sim.record(s).members) == 2 for s in ["A", "B"])
    sim.register("e2", inc="i2")
    sim.run(0.2, ["e0", "e1", "e2"])
    for s in ["A", "B"]:
        assert len(sim.record(s).members) == 3
        assert "e2" not in sim.record(s).in_sync


def test_a_joining_engine_takes_primaries_by_planned_handoff() -> None:
    syms = ["A", "B", "C", "D"]
    sim = make(syms, expected=3)
    sim.register("e0")
    sim.register("e1")
    sim.run(TIMINGS.startup_grace + 0.1, ["e0", "e1"])
    assert Counter(sim.record(s).primary for s in syms) == {"e0": 2, "e1": 2}
    sim.register("e2")
    sim.run(0.1, ["e0", "e1", "e2"])
    for s in syms:
        record = sim.record(s)
        assert "e2" in record.followers
        assert "e2" not in record.in_sync
        decision = sim.core.update_in_sync(s, 1, record.primary, [*record.in_sync, "e2"])
        assert decision.proposal is not None
        sim.put(decision.proposal)
    caught_up = {
        e: [Report(s, epoch=1, journaled_seq=10) for s in syms] for e in ["e0", "e1", "e2"]
    }
    sim.run(0.1, ["e0", "e1", "e2"], caught_up)
    moving = [s for s in syms if sim.record(s).primary == ""]
    assert len(moving) == 1, "exactly one planned move at a time"
    (symbol,) = moving
    assert sim.record(symbol).epoch == 2
    old = sim.record(symbol).followers
    reports = {e: [Report(s, epoch=2 if s == symbol else 1, journaled_seq=10) for s in syms]
               for e in ["e0", "e1", "e2"]}  # fmt: skip
    sim.run(0.3, ["e0", "e1", "e2"], reports)
    assert sim.record(symbol).primary == "e2", "tie goes to the planned target"
    assert set(sim.record(symbol).members) == set(old)
    sim.run(TIMINGS.rebalance_cooldown + 1, ["e0", "e1", "e2"], reports)
    counts = Counter(sim.record(s).primary for s in syms)
    assert max(counts.values()) - min(counts.values()) <= 1, counts


def test_a_planned_move_waits_for_the_live_old_primary_to_report() -> None:
    syms = ["A", "B"]
    sim = make(syms, expected=2, timings=TIMINGS)
    sim.register("e0")
    sim.run(TIMINGS.startup_grace + 0.1, ["e0"])
    sim.register("e1")
    sim.run(0.1, ["e0", "e1"])
    for s in syms:
        decision = sim.core.update_in_sync(s, 1, "e0", ["e0", "e1"])
        assert decision.proposal is not None
        sim.put(decision.proposal)
    same = {e: [Report(s, epoch=1, journaled_seq=4) for s in syms] for e in ["e0", "e1"]}
    sim.run(0.1, ["e0", "e1"], same)
    (symbol,) = [s for s in syms if sim.record(s).primary == ""]
    target_only = {"e0": same["e0"], "e1": [at_epoch(symbol, 2, 4)]}
    sim.run(2.0, ["e0", "e1"], target_only)
    assert sim.record(symbol).primary == "", "promoted while the old primary may write"


def test_a_lost_compare_and_set_adopts_the_stored_record() -> None:
    sim = placed(make(["A"], expected=3), ["e0", "e1", "e2"], ["A"])
    rival = SymbolRecord(7, "", ("e0", "e1", "e2"), ("e0", "e1", "e2"))
    sim.store["A"] = Versioned(rival, "rival")
    decision = sim.core.update_in_sync("A", 1, "e0", ["e0", "e1"])
    assert decision.proposal is not None
    assert not sim.put(decision.proposal)
    assert sim.core.records()["A"].record == rival
    sim.run(0.3, ["e0", "e1", "e2"], {e: [at_epoch("A", 7, 1)] for e in ["e0", "e1", "e2"]})
    assert (sim.record("A").epoch, sim.record("A").primary) == (7, "e0")


def test_after_a_restart_a_returning_primary_keeps_its_epoch_and_others_fail_over() -> None:
    sim = placed(make(["A", "B", "C"], expected=3), ["e0", "e1", "e2"], ["A", "B", "C"])
    stored = dict(sim.store)
    assert [stored[s].record.primary for s in ["A", "B", "C"]] == ["e0", "e1", "e2"]
    restarted = make(["A", "B", "C"], expected=3)
    restarted.now, restarted.store, restarted.counter = 100.0, stored, sim.counter
    restarted.core.load(stored, restarted.now)
    held: dict[str, list[Report]] = {"e0": [Report("A", 1, 5), Report("B", 1, 5)], "e1": []}
    restarted.register("e0", held["e0"])
    restarted.register("e1", [])
    restarted.run(TIMINGS.recovery - 0.1, ["e0", "e1"], held)
    assert [restarted.record(s).epoch for s in ["A", "B", "C"]] == [1, 1, 1]
    restarted.run(0.3, ["e0", "e1"], held)
    assert (restarted.record("A").epoch, restarted.record("A").primary) == (1, "e0")
    assert restarted.record("B").epoch == 2, "e1 came back without B: an election"
    assert restarted.record("C").epoch == 2, "e2 never came back"


def test_a_primary_reporting_its_symbol_failed_loses_it_and_is_never_elected() -> None:
    """An fsync error stopped the symbol on e0: it stays alive (heartbeats), but another
    in-sync replica takes over, and e0 wins no election for it until a new incarnation."""
    sim = placed(make(["A"], expected=3), ["e0", "e1", "e2"], ["A"])
    failed = Report("A", epoch=1, journaled_seq=50, last_epoch=1, failed=True)
    sim.run(0.3, ["e0", "e1", "e2"], {"e0": [failed]})
    opened = sim.record("A")
    assert (opened.epoch, opened.primary) == (2, ""), "a failed primary is lost at once"
    # e0 reports the longest journal, and still does not win.
    reports = {
        "e0": [Report("A", epoch=2, journaled_seq=50, last_epoch=1, failed=True)],
        "e1": [at_epoch("A", 2, 40)],
        "e2": [at_epoch("A", 2, 45)],
    }
    sim.run(0.3, ["e0", "e1", "e2"], reports)
    elected = sim.record("A")
    assert elected.primary == "e2"
    assert "e0" not in elected.in_sync
    # The new primary dies too: e1 takes over, never e0.
    sim.run(DEAD + 0.1, ["e0", "e1"], reports)
    assert sim.record("A").epoch == 3
    reports = {
        "e0": [Report("A", epoch=3, journaled_seq=50, last_epoch=1, failed=True)],
        "e1": [at_epoch("A", 3, 45)],
    }
    sim.run(1.0, ["e0", "e1"], reports)
    assert sim.record("A").primary == "e1"
    # A restart (a new incarnation) clears it: e0 may be placed and caught up again.
    sim.register("e0", [at_epoch("A", sim.record("A").epoch, 40)], inc="i2")
    sim.run(0.3, ["e0", "e1"])
    assert "e0" in sim.record("A").members


@pytest.mark.parametrize("n_engines", [2, 3, 4])
@pytest.mark.parametrize("n_symbols", [1, 2, 5])
def test_a_settled_placement_proposes_nothing_more(n_engines: int, n_symbols: int) -> None:
    """Found by the peer-auth cluster test: the ring order of a fresh placement's
    followers was "repaired" into sorted order, a new version that meant nothing new."""
    syms = symbols(n_symbols)
    engines = [f"e{i}" for i in range(n_engines)]
    sim = placed(make(syms, expected=n_engines), engines, syms)
    settled = dict(sim.store)
    for _ in range(10):
        for engine in engines:
            sim.beat(engine, sim.live_reports(engine, {}))
        assert sim.step() == []
    assert sim.store == settled


def test_peer_addresses_are_published_and_a_change_is_a_new_version() -> None:
    """An engine's peer address (its replication port) reaches every engine's placement;
    one registered without (an older engine) is published empty, so peers replicate
    through its address; a restart at another peer port publishes the new one."""
    sim = make(["A"], expected=2)
    sim.core.register("e0", "i1", "e0:1", "", [], sim.now, peer_address="e0:2")
    sim.core.register("e1", "i1", "e1:1", "", [], sim.now)
    engines = {e.engine_id: e for e in sim.core.view(sim.now).engines}
    assert (engines["e0"].address, engines["e0"].peer_address) == ("e0:1", "e0:2")
    assert (engines["e1"].address, engines["e1"].peer_address) == ("e1:1", "")
    version = sim.core.version
    sim.core.register("e0", "i1", "e0:1", "", [], sim.now, peer_address="e0:3")
    assert sim.core.version > version
    assert {e.engine_id: e.peer_address for e in sim.core.view(sim.now).engines} == {
        "e0": "e0:3",
        "e1": "",
    }
    # And over the wire (EngineInfo.peer_address), both ways.
    view = sim.core.view(sim.now)
    assert placement_from_pb(placement_to_pb(view)).engines == view.engines
