"""``dome bench fix``: a real cluster, a real gateway, one FIX session, counts that add up.

Run small (a few hundred orders): every order sent through FIX is acknowledged exactly
once (ExecutionReport New) and none is rejected or unknown, the SDK's run of the same
load is acknowledged in full, the figures are there and ordered (p50 <= p99). The
tally that decides "exactly once" is also fed a duplicate, a reject and a stranger's
report directly, so a bench that miscounted would not pass as consistent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

quickfix = pytest.importorskip("quickfix", reason="dome bench fix needs the quickfix package")

from dome.bench.fix import _initiator  # noqa: E402  (after the skip: it needs QuickFIX)

ORDERS = 300


def test_bench_fix_acknowledges_every_order_exactly_once(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dome.cli", "bench", "fix", "--orders", str(ORDERS),
         "--window", "8", "--engines", "1", "--json"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["consistent"] is True
    assert (result["orders"], result["window"], result["engines"]) == (ORDERS, 8, 1)
    fix, sdk = result["fix"], result["sdk"]
    assert (fix["sent"], fix["acknowledged"]) == (ORDERS, ORDERS)
    assert (fix["duplicate_acks"], fix["rejected"], fix["unknown_reports"]) == (0, 0, 0)
    assert (sdk["sent"], sdk["acknowledged"], sdk["rejected"]) == (ORDERS, ORDERS, 0)
    for run in (fix, sdk):
        assert run["orders_per_sec"] > 0
        assert 0 < run["p50_ms"] <= run["p99_ms"]


def test_bench_fix_refuses_nonsense_arguments(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dome.cli", "bench", "fix", "--window", "0"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "must be positive" in done.stderr


def _report(clordid: str, exec_type: str) -> object:
    message = quickfix.Message()
    message.getHeader().setField(35, "8")
    message.setField(11, clordid)
    message.setField(150, exec_type)
    return message


def test_the_tally_counts_duplicates_rejects_and_strangers() -> None:
    app = _initiator("token", window=4)
    ids = {"a", "b", "c"}
    for clordid in sorted(ids):
        app.tally.sent_at[clordid] = 0
    for clordid, exec_type in [("a", "0"), ("a", "0"), ("b", "8"), ("c", "0"), ("zz", "0")]:
        app.fromApp(_report(clordid, exec_type), None)
    result = app.result(ids, 1.0)
    assert (result["acknowledged"], result["duplicate_acks"]) == (2, 1)
    assert (result["rejected"], result["unknown_reports"]) == (1, 1)
