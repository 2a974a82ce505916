"""Fault tests on real processes: kill -9 primaries and followers under load (R1, R2, R4).

Each test drives a 3-engine cluster (R=3, acks=all, group-commit journals) with order
flow that retries like the SDK, breaks it, and then checks what an exchange promises:
no acknowledged order lost, none executed twice, replicas identical.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cluster_harness import Cluster, running_cluster, wait_for
from cluster_load import Load, order_request, submit_with_retry

pytestmark = pytest.mark.timeout(240)


def _wait_consistent(cluster: Cluster, symbol: str, timeout: float = 10.0) -> dict[str, str]:
    hashes = wait_for(lambda: cluster.converged(symbol), timeout, f"{symbol} replicas converged")
    assert len(set(hashes.values())) == 1, hashes
    return hashes


@pytest.mark.parametrize("acks", ["all", "majority"])
def test_kill_primary_under_load_repeatedly(tmp_path: Path, acks: str) -> None:
    """R1: 0 acknowledged orders lost, 0 duplicates, a new primary within 3 s, equal hashes."""
    symbol = "AAA-USD"
    with running_cluster(tmp_path, 3, symbols=(symbol, "BBB-USD"), acks=acks) as cluster:
        loads = [Load(cluster, s, f"r1-{s}").start() for s in (symbol, "BBB-USD")]
        takeovers: list[float] = []
        for round_ in range(3):
            wait_for(lambda: all(load.sent > 50 for load in loads), 30, "orders flowing")
            old = cluster.primary(symbol)
            old_epoch = cluster.symbol_placement(symbol).epoch
            killed_at = time.monotonic()
            cluster.engine(old).kill()
            # The new primary accepts orders: acks on the symbol resume.
            wait_for(
                lambda at=killed_at, o=old: loads[0].acks_after(at, o) > 0,  # type: ignore[misc]
                10,
                f"acks after killing {old}",
            )
            first_ack = min(loads[0].acks_since(killed_at, old))
            takeovers.append(first_ack - killed_at)
            sp = cluster.symbol_placement(symbol)
            assert sp.primary != old
            assert sp.epoch > old_epoch
            # Bring the engine back so the next round again has three replicas.
            cluster.engine(old).start()
            wait_for(
                lambda e=old: e in cluster.symbol_placement(symbol).in_sync,  # type: ignore[misc]
                20,
                f"{old} in sync again",
            )
            print(f"round {round_}: killed {old}, orders acked again after {takeovers[-1]:.2f}s")
        for load in loads:
            load.stop()
        for load in loads:
            load.verify()
        for s in (symbol, "BBB-USD"):
            _wait_consistent(cluster, s)
        assert max(takeovers) <= 3.0, f"takeover times {takeovers}"


def test_follower_restart_catches_up(tmp_path: Path) -> None:
    """R2: a follower killed with -9 and restarted catches up within 5 s."""
    symbol = "AAA-USD"
    with running_cluster(tmp_path, 3, symbols=(symbol,)) as cluster:
        load = Load(cluster, symbol, "r2").start()
        wait_for(lambda: load.sent > 100, 30, "orders flowing")
        follower = cluster.symbol_placement(symbol).followers[0]
        cluster.engine(follower).kill()
        wait_for(lambda: load.sent > 400, 30, "orders flowing without the follower")
        load.stop()
        primary = cluster.primary(symbol)
        cluster.engine(follower).start()
        # From the moment the restarted process has recovered and registered.
        restarted = time.monotonic()

        def caught_up() -> bool:
            mine = cluster.status(follower)
            theirs = cluster.status(primary)
            if not mine or not theirs:
                return False
            return mine[symbol].applied_seq == theirs[symbol].applied_seq > 0

        wait_for(caught_up, 5.0, f"{follower} caught up")
        print(f"follower caught up {time.monotonic() - restarted:.2f}s after it registered")
        load.verify()
        _wait_consistent(cluster, symbol)


def test_kill_every_engine_and_restart(tmp_path: Path) -> None:
    """R4: kill -9 all engines, restart them: every acknowledged order is back."""
    symbols = ("AAA-USD", "BBB-USD")
    with running_cluster(tmp_path, 3, symbols=symbols) as cluster:
        loads = [Load(cluster, s, f"r4-{s}").start() for s in symbols]
        wait_for(lambda: all(load.sent > 200 for load in loads), 30, "orders flowing")
        for load in loads:
            load.stop()
        for engine in cluster.engines:
            engine.kill()
        for engine in cluster.engines:
            engine.start()
        cluster.wait_placed(30)
        for load in loads:
            load.verify()
        for s in symbols:
            _wait_consistent(cluster, s)
        # And trading goes on.
        result = submit_with_retry(cluster, order_request(symbols[0], "after-restart", 1))
        assert not result.duplicate
        assert result.order_id > 0


def test_follower_behind_compaction_resyncs_from_a_snapshot(tmp_path: Path) -> None:
    """A follower away for many snapshots comes back through FetchSnapshot, not the log."""
    symbol = "AAA-USD"
    with running_cluster(
        tmp_path, 3, symbols=(symbol,), snapshot_every=100, segment_bytes=4096
    ) as cluster:
        load = Load(cluster, symbol, "snap").start()
        wait_for(lambda: load.sent > 50, 30, "orders flowing")
        follower = cluster.symbol_placement(symbol).followers[0]
        cluster.engine(follower).kill()
        wait_for(lambda: load.sent > 900, 60, "orders flowing without the follower")
        load.stop()
        cluster.engine(follower).start()
        primary = cluster.primary(symbol)

        def caught_up() -> bool:
            mine, theirs = cluster.status(follower), cluster.status(primary)
            if not mine or not theirs:
                return False
            return mine[symbol].applied_seq == theirs[symbol].applied_seq

        wait_for(caught_up, 10, f"{follower} caught up")
        assert "resynchronised from a snapshot" in cluster.engine(follower).log()
        load.verify()
        _wait_consistent(cluster, symbol)
