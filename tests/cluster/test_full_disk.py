"""A full disk: the engine refuses what it cannot journal, corrupts nothing, and resumes.

The engine's data directory is a small tmpfs that the test fills with ballast while
orders flow. Journal appends and snapshot writes then fail with ENOSPC. What must hold:
every acknowledged order survives (also a kill -9 and a restart: the journal replays to
the same state hash), nothing the clients were told failed was applied anyway, clients
hear UNAVAILABLE with a reason while the disk is full, and once space returns the
engine takes writes again without a restart.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from cluster_harness import ACCOUNTS, running_cluster, wait_for
from cluster_load import Load, order_request

from dome.v1 import trading_pb2_grpc as tr_grpc

SYMBOL = "AAA-USD"
#: Free bytes left beside the ballast: room for journal records, not for a snapshot.
HEADROOM = 96 * 1024


def _cannot_mount() -> str | None:
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    return None


pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(_cannot_mount() is not None, reason=f"{_cannot_mount()}"),
]


@contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: Path, leave: int, name: str = "ballast") -> Path:
    """Write ballast until only ``leave`` bytes are free."""
    ballast = disk / name
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with ballast.open("wb") as out:
        out.write(b"\0" * max(0, free - leave))
    return ballast


def _refusals(log: str) -> int:
    return log.count("journal write failed")


def test_full_disk_refuses_cleanly_and_resumes(tmp_path: Path) -> None:
    with (
        small_disk(tmp_path / "engine-0", "4m") as disk,
        running_cluster(
            tmp_path, 1, symbols=(SYMBOL,), snapshot_every=100, segment_bytes=32 * 1024
        ) as cluster,
    ):
        engine = cluster.engines[0]
        load = Load(cluster, SYMBOL, "disk").start()
        wait_for(lambda: load.sent > 50, 30, "orders flowing")
        ballast = _fill(disk, HEADROOM)
        # Full: first snapshots fail (they are larger than the headroom), then appends.
        wait_for(lambda: "snapshot not written" in engine.log(), 60, "a snapshot refused")
        wait_for(lambda: _refusals(engine.log()) > 0, 60, "journal appends refused")
        # Not a byte left, so no smaller record slips through either.
        last_bytes = _fill(disk, 0, "ballast-2")

        # A client hears why, as UNAVAILABLE: never INTERNAL, never an acknowledgement.
        stub = tr_grpc.TradingServiceStub(cluster.channel(engine.address))
        metadata = (("authorization", f"Bearer {ACCOUNTS['bob']}"),)
        with pytest.raises(grpc.RpcError) as refused:
            stub.SubmitOrder(order_request(SYMBOL, "bob-full", 1), metadata=metadata, timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
        assert "journal" in refused.value.details()  # type: ignore[attr-defined]

        # Space returns: writes resume without a restart, and the load never gave up.
        ballast.unlink()
        last_bytes.unlink()
        freed_at = time.monotonic()
        wait_for(lambda: load.acks_after(freed_at) > 50, 30, "acks after space returned")
        load.stop()
        load.verify()
        hashes = wait_for(lambda: cluster.converged(SYMBOL), 15, "engine settled")

        # Nothing in memory that the journal lacks, and nothing journaled that is not in
        # memory: a kill -9 and a replay give back the same state.
        engine.kill()
        engine.start()
        cluster.wait_placed()
        again = wait_for(lambda: cluster.converged(SYMBOL), 30, "engine recovered")
        assert again == hashes
        load.verify()
