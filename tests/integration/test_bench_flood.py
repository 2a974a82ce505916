"""``dome bench flood`` end to end: a real engine, a real flooding process, both phases
counted, and the engine's own timing of exactly quiet's calls beside quiet's."""

from __future__ import annotations

from dome.bench.flood import run_flood_bench


def test_flood_bench_times_quiet_from_both_ends() -> None:
    result = run_flood_bench(duration=1.0, quiet_rate=40.0)
    for phase in ("quiet_alone", "quiet_under_flood"):
        quiet = result[phase]
        assert (quiet["orders"], quiet["rejected"]) == (40, 0), phase
        assert 0 < quiet["p50_ms"] <= quiet["p99_ms"] <= quiet["max_ms"]
        # The engine timed the same 40 calls, and no more: the flood uses SubmitOrders.
        engine = quiet["in_engine"]
        assert engine["calls"] == 40, phase
        # Bucket bounds; None past the last bucket (1 s), which a stalled machine may see.
        if engine["p99_le_ms"] is not None:
            assert 0 < engine["p50_le_ms"] <= engine["p99_le_ms"] <= 1_000
        assert 0 <= engine["within_10ms"] <= 1
    assert result["flood"]["answered_per_sec"] > 0
    assert result["flood"]["other_errors"] == 0
    assert result["within_2x"] == (result["p99_ratio"] <= 2.0)
