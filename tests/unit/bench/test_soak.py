"""The soak's verdicts: bounds that catch growth, double bookings, and the exit code."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from dome.bench import soak
from dome.bench.soak_audit import booked_twice
from dome.bench.soak_load import Ring
from dome.bench.soak_samples import Sample, bounds
from dome.cli_commands import bench as bench_cli

MiB = 2**20
DURATION = 100.0


def _series(process: str, value: Any, *, disk: bool = False) -> list[Sample]:
    """A sample a second for the run; ``value(t)`` is the RSS in MiB (and disk, if asked)."""
    return [
        Sample(
            float(t), process, 1, int(value(t) * MiB), 20, 0.0, int(value(t) * MiB) if disk else -1
        )
        for t in range(int(DURATION) + 1)
    ]


def test_flat_after_warm_up_holds() -> None:
    samples = _series("engine-0", lambda t: min(t, 20) + 100, disk=True)
    result = bounds(samples, DURATION)
    assert result["held"] is True
    assert set(result["processes"]["engine-0"]) == {"rss_bytes", "fds", "disk_bytes"}


def test_steady_growth_fails_the_rss_bound() -> None:
    samples = _series("engine-0", lambda t: 100 + 2 * t)  # a leak of 2 MiB/s from the start
    result = bounds(samples, DURATION)
    assert result["held"] is False
    assert result["processes"]["engine-0"]["rss_bytes"]["ok"] is False
    assert result["processes"]["engine-0"]["fds"]["ok"] is True


def test_a_journal_never_compacted_fails_the_disk_bound() -> None:
    samples = _series("engine-1", lambda t: t, disk=True)
    assert bounds(samples, DURATION)["processes"]["engine-1"]["disk_bytes"]["ok"] is False


def test_a_compacted_sawtooth_holds() -> None:
    samples = _series("engine-1", lambda t: 10 + t % 17, disk=True)
    assert bounds(samples, DURATION)["processes"]["engine-1"]["disk_bytes"]["ok"] is True


def test_a_process_not_seen_in_the_last_quarter_is_no_evidence() -> None:
    samples = [s for s in _series("engine-2", lambda t: 100) if s.t < 3 * DURATION / 4]
    result = bounds(samples, DURATION)
    assert result["held"] is False
    assert result["processes"]["engine-2"]["rss_bytes"] == {"evaluated": False, "ok": False}


def test_a_retry_within_the_window_is_no_second_booking() -> None:
    orders = {1: (11, "a", "x"), 2: (12, "a", "y"), 3: (13, "a", "x")}
    assert booked_twice({("XYZ", "e0"): (orders, 3)}, dedup_window=5) == 0
    # The window (1 order) forgot "x" before it came again: the engine booked it twice.
    assert booked_twice({("XYZ", "e0"): (orders, 3)}, dedup_window=1) == 1


def test_the_ring_keeps_the_latest_acknowledged_orders() -> None:
    ring = Ring(3)
    for n in range(5):
        ring.add(n, 100 + n, 1000 + n)
    kept = sorted((ring.n[i], ring.seq[i], ring.order_id[i]) for i in ring.kept())
    assert kept == [(2, 102, 1002), (3, 103, 1003), (4, 104, 1004)]


GOOD = {
    "consistent": True,
    "lost": 0,
    "duplicates": 0,
    "audited": 10,
    "bounds": {"held": True, "processes": {}},
}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({}, 0),
        ({"lost": 1}, 1),
        ({"duplicates": 1}, 1),
        ({"consistent": False}, 1),
        ({"audited": 0}, 1),
        ({"bounds": {"held": False, "processes": {}}}, 1),
    ],
)
def test_exit_code_is_zero_only_when_audit_and_bounds_hold(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], code: int
) -> None:
    monkeypatch.setattr(soak, "run_soak_bench", lambda **_: {**GOOD, **change})
    args = argparse.Namespace(
        duration=1.0, rate=1.0, kill_every=1.0, bots=0, clients=1, batch=1, sample_every=1.0,
        snapshot_every=None, segment_bytes=4096, dedup_window=None, seed=1, out=None,
        json=True,
    )  # fmt: skip
    assert bench_cli._soak(args) == code
