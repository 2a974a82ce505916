"""Leader election on a Lease: the pure rules with fake clocks (including a seeded
simulation of racing, pausing candidates), then ``LeaderElector`` over real HTTP."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import pytest
from lease_server import LeaseServer

from dome import kube
from dome.discovery.leader import (
    ADDRESS_ANNOTATION,
    Action,
    Candidacy,
    LeaderElector,
    LeaderTimings,
    LeaseView,
)

T = LeaderTimings(duration=2.0, renew_deadline=1.4, retry=0.25)


def test_a_candidate_takes_only_an_absent_released_or_unchanged_lease() -> None:
    c = Candidacy("b", T)
    assert c.decide(None, 0.0) is Action.CREATE
    assert c.decide(LeaseView("", "7", 2.0, 3), 0.0) is Action.TAKE
    c.written(0.0)
    assert c.decide(LeaseView("b", "7", 2.0, 3), 0.0) is Action.RENEW
    # Another holder: the clock starts when this version is first seen, not before.
    assert c.decide(LeaseView("a", "8", 2.0, 3), 100.0) is Action.WAIT
    assert c.decide(LeaseView("a", "8", 2.0, 3), 101.9) is Action.WAIT
    assert c.decide(LeaseView("a", "9", 2.0, 3), 101.95) is Action.WAIT  # a renewed
    assert c.decide(LeaseView("a", "9", 2.0, 3), 103.9) is Action.WAIT
    assert c.decide(LeaseView("a", "9", 2.0, 3), 103.95) is Action.TAKE


def test_a_new_process_waits_out_its_predecessors_term_under_the_same_identity() -> None:
    """The identity is the pod's name: after a kill -9 and a container restart the new
    process reads a Lease "held by itself". Renewing it at once would silently resume a
    term it never had and race the standby, which has watched the Lease for longer."""
    restarted = Candidacy("a", T)
    assert restarted.decide(LeaseView("a", "8", 2.0, 3), 50.0) is Action.WAIT
    assert restarted.decide(LeaseView("a", "8", 2.0, 3), 51.9) is Action.WAIT
    assert restarted.decide(LeaseView("a", "8", 2.0, 3), 52.0) is Action.TAKE
    restarted.written(52.0)
    assert restarted.decide(LeaseView("a", "9", 2.0, 4), 52.3) is Action.RENEW


def test_a_term_runs_from_the_sending_time_for_the_renew_deadline() -> None:
    c = Candidacy("a", T)
    assert not c.leading(0.0)
    c.written(10.0)
    assert c.leading(11.39)
    assert not c.leading(11.4)
    c.lost()
    assert not c.leading(10.5)


def test_timings_must_leave_a_margin() -> None:
    with pytest.raises(ValueError, match="renew_deadline < duration"):
        LeaderTimings(duration=2.0, renew_deadline=2.0)


@dataclass
class Write:
    who: int
    sent: float
    lands: float
    expected: int | None  # the version read; None: a create


@pytest.mark.parametrize("seed", range(50))
def test_racing_and_pausing_candidates_never_lead_at_once(seed: int) -> None:
    """Three candidates on one Lease; writes land after random delays (a compare-and-set
    at landing time), candidates pause at random (a GC pause, a partition). At no instant
    may two of them believe they lead."""
    rng = random.Random(seed)
    candidates = [Candidacy(f"c{i}", T) for i in range(3)]
    lease: tuple[str, int] | None = None  # (holder, version)
    version = 0
    in_flight: list[Write] = []
    paused_until = [0.0] * 3
    now, leaders = 0.0, 0
    while now < 120.0:
        now += rng.uniform(0.01, 0.2)
        for write in [w for w in in_flight if w.lands <= now]:
            in_flight.remove(write)
            current = None if lease is None else lease[1]
            if write.expected == current:
                version += 1
                lease = (candidates[write.who].identity, version)
                candidates[write.who].written(write.sent)
            else:
                candidates[write.who].lost()
        who = rng.randrange(3)
        if now < paused_until[who]:
            pass
        elif rng.random() < 0.03:
            paused_until[who] = now + rng.uniform(0.5, 4.0)
        else:
            view = None if lease is None else LeaseView(lease[0], str(lease[1]), T.duration, 0)
            action = candidates[who].decide(view, now)
            if action is not Action.WAIT and not any(w.who == who for w in in_flight):
                lands = now + rng.uniform(0.0, 0.5)
                expected = None if lease is None else lease[1]
                in_flight.append(Write(who, now, lands, expected))
        leading = [c.identity for c in candidates if c.leading(now)]
        assert len(leading) <= 1, f"t={now:.2f}: {leading} lead at once"
        leaders += bool(leading)
    assert leaders > 0, "nobody ever led: the simulation proves nothing"


def elector(url: str, identity: str, clock: list[float], **kwargs: object) -> LeaderElector:
    api = kube.api_client(kube.token_configuration(url))
    return LeaderElector(
        "ns1",
        "demo-discovery-leader",
        identity,
        api,
        clock=lambda: clock[0],
        **kwargs,  # type: ignore[arg-type]
    )


async def test_two_electors_hand_over_only_after_a_lapse_or_a_release(
    api: tuple[LeaseServer, str],
) -> None:
    server, url = api
    clock_a, clock_b = [0.0], [1000.0]  # unrelated clocks: nobody compares them
    a = elector(url, "a", clock_a, owner=("demo", "uid-1"))
    b = elector(url, "b", clock_b)
    assert await a.attempt()
    lease = server.leases["ns1", "demo-discovery-leader"]
    assert lease["spec"]["holderIdentity"] == "a"
    assert lease["spec"]["leaseDurationSeconds"] == 2
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert not await b.attempt()
    for _ in range(3):  # a renews faster than the lease lapses: b never takes it
        clock_a[0] += 1.0
        clock_b[0] += 1.0
        assert await a.attempt()
        assert not await b.attempt()
    # a stops renewing (killed): b takes over a full duration after it saw the last renewal.
    clock_b[0] += 1.9
    assert not await b.attempt()
    clock_b[0] += 0.2
    assert await b.attempt()
    lease = server.leases["ns1", "demo-discovery-leader"]
    assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == ("b", 1)
    # a, back, finds b holding it and has stopped leading by its own clock long before.
    clock_a[0] += T.renew_deadline
    assert not a.leading()
    assert not await a.attempt()
    # A release hands over at once.
    await b.release()
    assert not b.leading()
    assert await a.attempt()
    assert server.leases["ns1", "demo-discovery-leader"]["spec"]["holderIdentity"] == "a"


async def test_a_leader_that_cannot_renew_stops_before_anyone_may_take_over(
    api: tuple[LeaseServer, str],
) -> None:
    server, url = api
    timings = LeaderTimings(duration=3.0, renew_deadline=1.0, retry=0.1)
    a = LeaderElector(
        "ns1",
        "demo-discovery-leader",
        "a",
        kube.api_client(kube.token_configuration(url)),
        timings=timings,
        timeout=0.5,
    )
    await asyncio.wait_for(a.campaign(), 10)
    holding = asyncio.create_task(a.hold())
    renewed = server.revision
    deadline = time.monotonic() + 10
    while server.revision < renewed + 2:  # it renews while the API answers
        assert time.monotonic() < deadline, "no renewal"
        assert not holding.done()
        await asyncio.sleep(0.05)
    server.refuse = True  # the API server now answers 500 to everything
    term_end = a.candidacy.leads_until
    await asyncio.wait_for(holding, 10)
    stopped = time.monotonic()
    assert not a.leading()
    # Another candidate could take over no earlier than duration after the last renewal,
    # i.e. after term_end + (duration - renew_deadline): the leader stopped before that.
    assert stopped < term_end + (timings.duration - timings.renew_deadline)


async def test_a_standby_learns_the_leaders_address_from_the_lease(
    api: tuple[LeaseServer, str],
) -> None:
    server, url = api
    a = elector(url, "a", [0.0], advertise="10.0.0.7:50051")
    b = elector(url, "b", [0.0], advertise="10.0.0.8:50051")
    assert b.leader_address() == ""  # nothing read yet
    assert await a.attempt()
    lease = server.leases["ns1", "demo-discovery-leader"]
    assert lease["metadata"]["annotations"][ADDRESS_ANNOTATION] == "10.0.0.7:50051"
    assert not await b.attempt()
    assert b.leader_address() == "10.0.0.7:50051"
    assert await a.attempt()
    assert a.leader_address() == ""  # a leads: it relays nowhere
    await a.release()
    assert await b.attempt()  # released: b takes it at once
    assert b.leader_address() == ""
    assert await b.attempt()
    assert b.leader_address() == ""  # b leads now
