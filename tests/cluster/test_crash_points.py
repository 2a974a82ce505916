"""Seeded crash points: an engine killed at a chosen point of the write path, under load.

Each seed picks a crash point (a deterministic rotation over ``dome.faults.POINTS``, so
any run of as many seeds as there are points covers them all) and how many times it is
reached before it fires (N). Every engine starts with ``DOME_CRASH_POINT=point:N`` and
one shared ``DOME_CRASH_ONCE`` file, so the first engine to reach the point N times
kills itself there with SIGKILL and no other one does: for a primary's point that is a
primary, which only discovery's placement decides. The engine is restarted without the
switch on the same data directory and must recover and rejoin while the cluster keeps
serving. Then what an exchange promises must hold: no acknowledged order lost, none
executed twice (``Load.verify``), every replica of every symbol at the same state hash.

Snapshots every 100 commands and 4 KiB segments make rolls, snapshots and compactions
happen all the time (but for the truncation scene, whose log must stay). Two points need
a scene first:

- ``journal.truncate``: the engine first dies at ``primary.journaled`` (a batch in its
  journal that no follower got), so on rejoin it must truncate that tail, and dies there.
- ``snapshot.install``: a primary is killed, stays away until its symbol's log was
  compacted past it, and dies installing the snapshot it then has to fetch.

``make test`` runs ``DOME_CRASH_SEEDS`` seeds (12 by default); ``make crash-points`` 50.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from cluster_harness import Cluster, Proc, wait_for
from cluster_load import Load

from dome.faults import POINTS

SYMBOLS = ("AAA-USD", "BBB-USD")
ROTATION = sorted(POINTS)
SEEDS = int(os.environ.get("DOME_CRASH_SEEDS", "12"))
#: How often each point is reached before it fires: (lowest N, highest N).
REACHES = {
    "journal.roll": (1, 4),
    "journal.compact": (1, 3),
    "snapshot.write": (1, 3),
}
DEFAULT_REACHES = (5, 80)
#: Snapshot interval per point: so often that the new primary compacts past a crashed
#: engine within a failover, which then resynchronises from a snapshot instead; the
#: truncation scene needs its log kept.
SNAPSHOT_EVERY = {"journal.truncate": 100_000}

pytestmark = pytest.mark.timeout(180)


def _plan(seed: int) -> tuple[str, int]:
    """(point, N) for ``seed``."""
    rng = random.Random(seed)
    point = ROTATION[seed % len(ROTATION)]
    low, high = REACHES.get(point, DEFAULT_REACHES)
    return point, rng.randint(low, high)


def _arm(proc: Proc, spec: str, once: Path) -> None:
    proc.env.update({"DOME_CRASH_POINT": spec, "DOME_CRASH_ONCE": str(once)})


def _disarm(proc: Proc) -> None:
    proc.env.pop("DOME_CRASH_POINT", None)
    proc.env.pop("DOME_CRASH_ONCE", None)


def _crashed(cluster: Cluster, point: str) -> Proc:
    """Until an engine killed itself at ``point``; that engine, disarmed for restarts."""
    victim = wait_for(
        lambda: next((e for e in cluster.engines if not e.alive()), None),
        60,
        f"an engine crashing at {point}",
    )
    assert victim.popen is not None
    assert victim.popen.returncode == -9, victim.log()
    assert f'"point":"{point}"' in victim.log(), f"{victim.name} died, but not at {point}"
    for engine in cluster.engines:
        _disarm(engine)
    return victim


def _restart_crashing(cluster: Cluster, proc: Proc, point: str, once: Path) -> None:
    """Restart ``proc`` armed with ``point:1`` and wait until it crashed there."""
    _arm(proc, f"{point}:1", once)
    proc.start()
    assert _crashed(cluster, point) is proc


def _in_sync_everywhere(cluster: Cluster, engine_id: str) -> bool:
    return all(engine_id in sp.in_sync for sp in cluster.placement().symbols)


@pytest.mark.parametrize("seed", range(SEEDS))
def test_crash_point_loses_nothing(tmp_path: Path, seed: int) -> None:
    point, n = _plan(seed)
    print(f"seed {seed}: an engine crashes at {point}:{n}")
    cluster = Cluster(
        tmp_path,
        3,
        symbols=SYMBOLS,
        snapshot_every=SNAPSHOT_EVERY.get(point, 100),
        segment_bytes=4096,
    )
    first = {"journal.truncate": "primary.journaled", "snapshot.install": ""}.get(point, point)
    if first:
        for engine in cluster.engines:
            _arm(engine, f"{first}:{n}", tmp_path / "crashed")
    try:
        cluster.start()
        _exercise(cluster, point, seed, tmp_path / "crashed-again")
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()


def _exercise(cluster: Cluster, point: str, seed: int, once: Path) -> None:
    loads = [Load(cluster, s, f"crash{seed}-{s}").start() for s in SYMBOLS]
    wait_for(lambda: all(load.sent > 20 for load in loads), 30, "orders flowing")
    if point == "snapshot.install":
        symbol = SYMBOLS[seed % len(SYMBOLS)]
        victim = cluster.engine(cluster.primary(symbol))
        behind = cluster.status(victim.name)
        assert behind is not None
        victim.kill()
        crashed_at = time.monotonic()
        wait_for(lambda: cluster.primary(symbol) not in ("", victim.name), 15, "a new primary")
        primary = cluster.primary(symbol)
        wait_for(
            lambda: (
                (s := cluster.status(primary))
                and s[symbol].first_seq > behind[symbol].journaled_seq + 1
            ),
            60,
            f"{symbol} compacted past {victim.name}'s journal",
        )
        _restart_crashing(cluster, victim, point, once)
    else:
        victim = _crashed(cluster, "primary.journaled" if point == "journal.truncate" else point)
        crashed_at = time.monotonic()

    # The cluster goes on serving without it, led by others (restarted sooner, it could
    # win its symbols back as the in-sync replica with the longest journal).
    wait_for(
        lambda: sum(load.acks_after(crashed_at, victim.name) for load in loads) > 20,
        30,
        f"acks after {victim.name} crashed",
    )
    wait_for(
        lambda: all(sp.primary not in ("", victim.name) for sp in cluster.placement().symbols),
        15,
        f"every symbol led by an engine other than {victim.name}",
    )
    if point == "journal.truncate":
        # Its journal holds a batch no follower got: rejoining truncates it.
        _restart_crashing(cluster, victim, point, once)
    # Then it recovers and rejoins.
    victim.start()
    wait_for(lambda: _in_sync_everywhere(cluster, victim.name), 60, f"{victim.name} in sync")
    rejoined_at = time.monotonic()
    wait_for(lambda: all(load.acks_after(rejoined_at) > 10 for load in loads), 30, "acks")
    for load in loads:
        load.stop()
    for load in loads:
        load.verify()
    for symbol in SYMBOLS:
        hashes = wait_for(lambda s=symbol: cluster.converged(s), 30, f"{symbol} converged")
        assert len(hashes) == 3, (symbol, hashes)
        assert len(set(hashes.values())) == 1, (symbol, hashes)
