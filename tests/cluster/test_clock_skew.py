"""Skewed wall clocks: failover and fencing do not care, and time never runs backwards.

Two of three engines run with their wall clock 90 s ahead and 90 s behind (libfaketime,
monotonic clock untouched, as on a real machine whose clock is off). Leases, elections
and fencing use only each process's own monotonic clock, so killing primaries under load
must go as it does without skew: acknowledged orders survive, replicas converge. The one
thing a wall clock decides is each batch's timestamp, stamped by the primary; along a
symbol's log it must never decrease, even when the new primary's clock is behind the old
one's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from cluster_harness import Cluster, wait_for
from cluster_load import Load, kill_primaries_until

from dome.log.entries import decode_batch

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
#: Engine index -> seconds its wall clock is off. Elections prefer the lowest id on a tie,
#: so killing primaries alternates between these two: fast clock, then slow, then fast.
SKEW_S = {0: 90, 1: -90}
SKEWED = {f"engine-{i}" for i in SKEW_S}
SYMBOL = "AAA-USD"

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not LIBFAKETIME.exists(), reason=f"no libfaketime at {LIBFAKETIME} (make test installs it)"
    ),
]


def _skewed(seconds: int) -> dict[str, str]:
    return {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME": f"{seconds:+d}s",
        # A skewed machine's monotonic clock still just counts up from boot.
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_NO_CACHE": "1",
    }


def _timestamps(cluster: Cluster, engine_id: str) -> list[tuple[int, int]]:
    """(epoch, timestamp_ns) of every batch in ``engine_id``'s journal, in log order."""
    batches = [decode_batch(data) for data in cluster.journal(engine_id, SYMBOL)]
    return [(batch.epoch, batch.timestamp_ns) for batch in batches]


def test_failover_with_skewed_clocks_keeps_time_monotonic(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 3, symbols=(SYMBOL,))
    for index, seconds in SKEW_S.items():
        cluster.engines[index].env = _skewed(seconds)
    try:
        cluster.start()
        load = Load(cluster, SYMBOL, "skew").start()
        # Kill whoever leads until both skewed engines have taken over from another engine.
        took_over = kill_primaries_until(cluster, load, SYMBOL, lambda led: set(led) >= SKEWED)
        assert set(took_over) >= SKEWED, f"leaders after each kill were {took_over}"
        load.stop()
        load.verify()
        hashes = wait_for(lambda: cluster.converged(SYMBOL), 15, "replicas converged")
        assert len(set(hashes.values())) == 1, hashes

        stamps = _timestamps(cluster, cluster.primary(SYMBOL))
        times = [ts for _, ts in stamps]
        assert times == sorted(times), "a batch timestamp went backwards along the log"
        # The skew was real: the engine 90 s ahead stamped batches in the future.
        assert max(times) > time.time_ns() + 60 * 10**9, "no batch stamped by the fast clock"
        assert os.environ.get("FAKETIME") is None  # the test itself runs on true time
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
