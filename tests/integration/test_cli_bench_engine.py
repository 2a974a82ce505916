"""``dome bench engine`` end to end: a real engine, a real load process, a verified result."""

from __future__ import annotations

import json

from client_helpers import dome

KEYS = {
    "orders_per_sec", "p50_ms", "p99_ms", "acked", "rejected", "errors", "verified",
    "engine_cpu_us_per_order",
}  # fmt: skip


def test_bench_engine_open_loop_acks_every_order_and_verifies() -> None:
    # 2,000 orders/s for 1 s over one process's two streams: 10 batches of 100 on each.
    done = dome("bench", "engine", "--symbols", "2", "--duration", "1", "--rate", "2000",
                "--clients", "1", "--json", timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr

    result = json.loads(done.stdout)
    assert set(result) == KEYS
    assert result["verified"] is True
    assert (result["acked"], result["rejected"], result["errors"]) == (2_000, 0, 0)
    assert result["orders_per_sec"] > 0
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert result["engine_cpu_us_per_order"] > 0
    assert "verified: every acknowledged order" in done.stderr


def test_bench_engine_refuses_nonsense_arguments() -> None:
    done = dome("bench", "engine", "--clients", "0", "--json")
    assert done.returncode == 2
    assert "must be positive" in done.stderr
