"""Engine timings that ride a discovery handover (``dome.discovery.handover``)."""

from __future__ import annotations

import pytest

from dome.discovery.coordinator_state import Timings
from dome.discovery.handover import (
    HandoverTimingsError,
    check_handover,
    handover_timings,
    longest_handover,
)
from dome.discovery.leader import LeaderTimings


def test_the_default_grant_outlasts_the_longest_handover_and_recovery_outlasts_the_grant() -> None:
    leader = LeaderTimings()
    timings = handover_timings(leader)
    # Lease 2 s, two renew periods of 0.25 s, a reconnect of 1.5 s: 4 s, plus the margin.
    assert longest_handover(leader, timings.reconnect) == 4.0
    assert timings.lease_ttl == 4.5
    assert timings.recovery >= timings.lease_ttl + timings.grace
    # Only the grant changes: local mode's other timings stand.
    assert timings == Timings(lease_ttl=4.5)


def test_a_lease_duration_is_counted_in_whole_seconds_as_the_lease_holds_it() -> None:
    leader = LeaderTimings(duration=2.2, renew_deadline=1.5, retry=0.25)
    assert longest_handover(leader, 1.5) == 5.0
    assert handover_timings(leader).lease_ttl == 5.5


def test_a_longer_grant_than_needed_is_kept() -> None:
    assert handover_timings(LeaderTimings(), Timings(lease_ttl=8.0)).lease_ttl == 8.0


def test_local_timings_are_refused_under_election_they_would_pause_writes() -> None:
    with pytest.raises(HandoverTimingsError, match=r"must outlast a discovery handover \(4 s"):
        check_handover(Timings(), LeaderTimings())


def test_a_recovery_shorter_than_the_grant_plus_grace_is_refused() -> None:
    with pytest.raises(HandoverTimingsError, match="could elect a replacement"):
        check_handover(Timings(lease_ttl=10.0, reconnect=-1.0), LeaderTimings())


def test_a_heartbeat_slower_than_half_the_grant_is_refused() -> None:
    with pytest.raises(HandoverTimingsError, match="half the lease"):
        check_handover(Timings(lease_ttl=5.0, heartbeat_interval=3.0), LeaderTimings())
