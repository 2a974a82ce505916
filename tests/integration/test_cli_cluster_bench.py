"""``dome bench cluster``: a short run on real processes keeps every acknowledged order."""

from __future__ import annotations

from client_helpers import dome_json

KEYS = {"orders_per_sec", "p50_ms", "p99_ms", "acked", "lost", "duplicates", "consistent"}


def test_bench_cluster_loses_nothing_and_replicas_agree() -> None:
    result = dome_json("bench", "cluster", "--engines", "3", "--symbols", "2",
                       "--duration", "3", timeout=240)  # fmt: skip
    assert set(result) >= KEYS
    assert result["acked"] > 0
    assert result["orders_per_sec"] > 0
    assert (result["lost"], result["duplicates"]) == (0, 0)
    assert result["consistent"] is True
    assert result["verified"] is True
    assert (result["engines"], result["symbols"], result["replication_factor"]) == (3, 2, 3)
