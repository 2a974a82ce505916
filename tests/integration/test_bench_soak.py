"""``dome bench soak``, short: kills under load and bots lose nothing, and every process
stays within its bounds; the audit and the bounds, given a broken replica or a leak, fail.

The run is the real thing at a small scale: real discovery, engine, load and bot
processes, kill -9 every 15 s, engines with snapshots every 500 entries, 16 KiB journal
segments and a window of 1,000 client order ids, so snapshots, compaction and a full
idempotency window all happen within its 40 s.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from dome.bench import soak, soak_audit
from dome.bench.cluster import audit
from dome.bench.soak_samples import Sample, bounds

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

DURATION = 40.0
KEYS = {
    "duration", "rate", "acked", "acked_per_sec", "load", "bots", "lost", "duplicates",
    "repeated_in_journal", "audited", "audited_orders", "audited_from_seq", "not_audited",
    "problems", "consistent", "kills", "bounds", "processes", "samples", "settings",
}  # fmt: skip
PROCESSES = {"discovery", "engine-0", "engine-1", "engine-2", "load-1", "load-2", "bots"}


@pytest.fixture(scope="module")
def soaked(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, list[Any]]:
    """One short soak; its result, its output folder and what its audit was given."""
    audited: list[Any] = []

    def recording_audit(*args: Any) -> dict[str, Any]:
        audited.append(args)
        return audit(*args)

    out = tmp_path_factory.mktemp("soak")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(soak_audit, "audit", recording_audit)
        result = soak.run_soak_bench(
            duration=DURATION, rate=500, kill_every=15, bots=1, sample_every=1,
            snapshot_every=500, segment_bytes=16 * 1024, dedup_window=1_000, out=out,
        )  # fmt: skip
    return result, out, audited


def test_kills_under_load_lose_nothing_and_stay_bounded(
    soaked: tuple[dict[str, Any], Path, list[Any]],
) -> None:
    result, out, _ = soaked
    assert set(result) >= KEYS
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["consistent"] is True
    assert result["audited"] > 0
    assert result["acked"] > 0
    assert len(result["kills"]) >= 2
    assert set(result["processes"]) == PROCESSES
    assert result["bots"]["orders"] > 0
    held = result["bounds"]
    assert set(held["processes"]) == PROCESSES
    for process, checks in held["processes"].items():
        wanted = {"rss_bytes", "fds"} | ({"disk_bytes"} if process.startswith("engine-") else set())
        assert set(checks) == wanted, process
        assert all(c["evaluated"] for c in checks.values()), (process, checks)
    assert held["held"] is True, held
    assert (out / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (out / "samples.csv").open() as f:
        assert {row["process"] for row in csv.DictReader(f)} == PROCESSES


def test_an_order_missing_from_one_replica_is_lost(
    soaked: tuple[dict[str, Any], Path, list[Any]],
) -> None:
    _, _, audited = soaked
    placement, journals, loads = audited[0]
    symbol, orders = next((s, o) for s, o in loads[0]["orders"].items() if o)
    seq = orders[0][0]
    follower = placement["symbols"][symbol]["followers"][0]
    held, last = journals[(symbol, follower)]
    broken = {**journals, (symbol, follower): ({k: v for k, v in held.items() if k != seq}, last)}
    assert audit(placement, journals, loads)["lost"] == 0
    assert audit(placement, broken, loads)["lost"] == 1


def test_a_growing_rss_fails_its_bound(soaked: tuple[dict[str, Any], Path, list[Any]]) -> None:
    _, out, _ = soaked
    with (out / "samples.csv").open() as f:
        samples = [
            Sample(
                float(r["t"]),
                r["process"],
                int(r["pid"]),
                int(r["rss_bytes"]),
                int(r["fds"]),
                float(r["cpu_s"]),
                int(r["disk_bytes"]),
            )
            for r in csv.DictReader(f)
        ]
    assert bounds(samples, DURATION)["held"] is True
    # The same run as a sampler would see it if engine-1 leaked 4 MiB every second.
    leaking = [
        dataclasses.replace(s, rss_bytes=s.rss_bytes + int(s.t * 2**20 * 4))
        if s.process == "engine-1" else s
        for s in samples
    ]  # fmt: skip
    verdict = bounds(leaking, DURATION)
    assert verdict["held"] is False
    assert verdict["processes"]["engine-1"]["rss_bytes"]["ok"] is False
