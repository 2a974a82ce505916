"""The engine timings that let engines ride a discovery handover, computed in one place.

With several discovery replicas (``dome.discovery.leader``) the leader can die with
every engine's grant outstanding. docs/discovery-ha.md section 3 is the design; this is
the arithmetic, and the check that refuses timings that would break it.

Safety: two primaries for one symbol never both acknowledge writes.

1. An engine writes only while its grant holds: until ``lease_ttl`` (G) after the
   *sending* time of its last answered heartbeat (``dome.discovery.agent``). Every
   grant was answered by a leader while it still led.
2. A leader stops deciding (and answering) ``renew_deadline`` after the sending time of
   its last renewal of the leader Lease; a successor takes the Lease no earlier than
   ``leaseDurationSeconds`` later (``Candidacy``), so after the predecessor stopped. So
   every grant the predecessor gave was given before the successor took over, and
   lapses before ``takeover + G``.
3. A new leader loads the placement from the store and, like a restarted discovery,
   decides nothing for ``recovery`` (``Coordinator.load``): engines re-register and
   keep their roles, and no replacement is elected. ``check_handover`` requires
   ``recovery >= G + grace``, so by the time any replacement can be elected every grant
   of the predecessor has lapsed, with the usual grace for clock rate differences.
4. A replacement is published under ``epoch + 1`` through a compare-and-set before any
   engine learns it, and followers refuse entries of an older epoch: a deposed primary
   cannot get a write acknowledged under ``all`` by a follower that moved on.

Liveness: writes go on through a handover only if a grant outlasts it, G greater than
the longest handover (``longest_handover``): the old leader's last renewal may be one
renew period old when it dies, a standby reads the Lease once a renew period and waits
the Lease duration (rounded up to whole seconds, as the Lease holds it) from first
seeing that version, and engines then need a reconnect to reach the new leader.

The cost: a dead engine is replaced only once its grant has lapsed, so engine failover
on Kubernetes takes about G + grace (4.5 s + 0.5 s with the defaults) instead of 1.5 s.
``dome up`` runs one discovery, has no handover, and keeps ``Timings()``.
"""

from __future__ import annotations

import math
from dataclasses import replace

from dome.discovery.coordinator_state import Timings
from dome.discovery.leader import LeaderTimings

#: Beyond the longest handover: a heartbeat's round trip and a re-registration.
MARGIN = 0.5


class HandoverTimingsError(ValueError):
    """Engine and leader timings that would let writes pause or two primaries write."""


def longest_handover(leader: LeaderTimings, reconnect: float) -> float:
    """Seconds from the leader's death until engines can renew at its successor."""
    return leader.retry + leader.retry + math.ceil(leader.duration) + reconnect


def handover_timings(leader: LeaderTimings, base: Timings | None = None) -> Timings:
    """``base`` (default ``Timings()``) with a grant that outlasts a handover."""
    base = base or Timings()
    grant = longest_handover(leader, base.reconnect) + MARGIN
    timings = replace(base, lease_ttl=max(base.lease_ttl, grant))
    check_handover(timings, leader)
    return timings


def check_handover(timings: Timings, leader: LeaderTimings) -> None:
    """``HandoverTimingsError`` naming the rule ``timings`` break; nothing otherwise."""
    handover = longest_handover(leader, timings.reconnect)
    if timings.lease_ttl <= handover:
        raise HandoverTimingsError(
            f"the engine lease ({timings.lease_ttl:g} s) must outlast a discovery "
            f"handover ({handover:g} s: leader Lease {math.ceil(leader.duration)} s, renew "
            f"period {leader.retry:g} s twice, reconnect {timings.reconnect:g} s), or "
            "writes pause whenever the discovery leader dies"
        )
    if timings.recovery < timings.lease_ttl + timings.grace:
        raise HandoverTimingsError(
            f"a new discovery leader waits {timings.recovery:g} s before deciding; it must "
            f"wait at least the engine lease plus grace ({timings.lease_ttl + timings.grace:g}"
            " s), or it could elect a replacement while its predecessor's grant holds"
        )
    if timings.heartbeat_interval * 2 > timings.lease_ttl:
        raise HandoverTimingsError("the heartbeat interval must be at most half the lease")
