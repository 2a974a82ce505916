"""Graceful leave on real processes: SIGTERM on a primary hands its symbols off first.

A stopping engine drains: discovery moves every symbol it leads to an in-sync follower
by a planned election while the engine still heartbeats and replicates, and only then
does the engine stop heartbeating. So no symbol waits for a lease to lapse (lease TTL
plus grace, 1.5 s by default) before it has a primary again, and the usual promises
hold: no acknowledged order lost, none executed twice, replicas identical.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from cluster_harness import Cluster, Proc, running_cluster, wait_for
from cluster_load import Load

pytestmark = pytest.mark.timeout(240)

#: Four symbols on three engines: one engine leads two, and that one is stopped.
SYMBOLS = ("AAA-USD", "BBB-USD", "CCC-USD", "DDD-USD")


def log_lines(proc: Proc) -> list[dict[str, Any]]:
    """Every JSON line of a process's log (the whole file, not the tail ``log()`` shows)."""
    lines = []
    for raw in proc.log_path.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def longest_silence(times: list[float], start: float, end: float) -> float:
    """The longest stretch in [start, end] without an acknowledgement."""
    points = [start, *sorted(t for t in times if start < t < end), end]
    return max(b - a for a, b in pairwise(points))


def converged(cluster: Cluster, symbol: str) -> dict[str, str]:
    hashes = wait_for(lambda: cluster.converged(symbol), 10, f"{symbol} replicas converged")
    assert len(set(hashes.values())) == 1, hashes
    return hashes


@pytest.mark.parametrize("acks", ["all", "majority"])
def test_sigterm_on_a_primary_hands_its_symbols_off_without_a_lease_lapse(
    tmp_path: Path, acks: str
) -> None:
    with running_cluster(tmp_path, 3, symbols=SYMBOLS, acks=acks) as cluster:
        loads = {s: Load(cluster, s, f"drain-{s}").start() for s in SYMBOLS}
        wait_for(lambda: all(load.sent > 50 for load in loads.values()), 30, "orders flowing")
        before = {sp.symbol: sp for sp in cluster.placement().symbols}
        leads = Counter(sp.primary for sp in before.values())
        leaving = max(sorted(leads), key=lambda e: leads[e])
        moving = sorted(s for s, sp in before.items() if sp.primary == leaving)
        assert len(moving) == 2, before
        proc = cluster.engine(leaving)

        stopped_at = time.monotonic()
        proc.stop()  # SIGTERM, then wait for the process to exit
        exited_at = time.monotonic()
        assert proc.popen is not None
        assert proc.popen.returncode == 0, proc.log()

        # Its symbols already have new primaries: nobody waited for its lease to lapse.
        after = {sp.symbol: sp for sp in cluster.placement().symbols}
        for symbol in moving:
            assert after[symbol].primary not in ("", leaving), after[symbol]
            assert after[symbol].epoch == before[symbol].epoch + 1, "one epoch per move"
        rebalanced = sorted(
            s for s in SYMBOLS if s not in moving and after[s].epoch != before[s].epoch
        )
        if acks == "all":
            # The drained symbols land where discovery planned them, spread evenly, so
            # nothing else needs to move. (Under majority the most advanced follower must
            # win, wherever that is, and a rebalance may follow.)
            assert not rebalanced, f"{rebalanced} moved needlessly"
        # Orders on every moved symbol are acknowledged again, by the new primaries.
        for symbol in moving:
            wait_for(
                lambda s=symbol: loads[s].acks_after(exited_at, leaving) > 0,  # type: ignore[misc]
                10,
                f"acks on {symbol} after {leaving} stopped",
            )
        # Keep the load running until discovery has seen the lease lapse.
        wait_for(
            lambda: (
                [e.alive for e in cluster.placement().engines if e.engine_id == leaving] == [False]
            ),
            10,
            f"{leaving}'s lease to lapse",
        )
        for load in loads.values():
            load.stop()

        silences = {
            s: longest_silence(
                [at for _, at in loads[s].acked.values()], stopped_at - 0.5, exited_at + 1.0
            )
            for s in moving
        }
        print(
            f"acks={acks}: {leaving} led {moving}; it exited {exited_at - stopped_at:.2f}s "
            f"after SIGTERM; longest time without an ack per moved symbol: "
            + ", ".join(f"{s} {t * 1000:.0f} ms" for s, t in silences.items())
        )

        # The logical facts. Discovery moved the symbols by drain, not by failover...
        discovery = log_lines(cluster.discovery)
        opened = [line for line in discovery if line["msg"] == "election opened"]
        drained = [line for line in opened if line.get("reason") == "drain"]
        assert sorted(line["symbol"] for line in drained) == moving, opened
        assert {line.get("reason") for line in opened} <= {"drain", "rebalance"}, opened
        draining = [line for line in discovery if line["msg"] == "engine draining"]
        assert [line.get("engine") for line in draining] == [leaving], draining
        # ... the engine led nothing when it stopped heartbeating ...
        engine_log = log_lines(proc)
        (leave,) = [line for line in engine_log if line["msg"] == "leaving the cluster"]
        assert leave["leading"] == [], leave
        assert any(line["msg"] == "drained" for line in engine_log), "drain incomplete"
        # ... and its lease lapsed, if at all yet, only after it stopped heartbeating.
        lapsed = [
            line
            for line in discovery
            if line["msg"] == "engine lease lapsed" and line.get("engine") == leaving
        ]
        assert all(line["ts"] > leave["ts"] for line in lapsed), (lapsed, leave)

        for load in loads.values():
            load.verify()
        for symbol in SYMBOLS:
            converged(cluster, symbol)
