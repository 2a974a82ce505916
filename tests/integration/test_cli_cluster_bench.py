"""``dome bench cluster``: a short run on real processes keeps every acknowledged order."""

from __future__ import annotations

from client_helpers import dome_json

KEYS = {
    "orders_per_sec", "p50_ms", "p99_ms", "acked", "lost", "duplicates", "consistent",
    "cpu_us_per_order", "cpu_s",
}  # fmt: skip


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
    # Every process of the cluster and the load, each having done some work.
    assert set(result["cpu_s"]) == {"discovery", "engine-0", "engine-1", "engine-2", "load"}
    assert all(seconds > 0 for seconds in result["cpu_s"].values()), result["cpu_s"]
    assert result["cpu_us_per_order"] > 0
