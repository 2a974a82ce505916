"""``dome backup`` and ``dome restore``: a restored data directory holds the same books.

A one-engine cluster trades (with snapshots every few entries, so the backup holds
snapshots, compacted journals and a live tail), then stops. ``dome backup`` copies the
engine's data directory; ``dome restore`` puts it into a fresh directory; a fresh
exchange (its own discovery) started on it reports, for each symbol, the state hash the
first engine reported.
A damaged backup and a non-empty target are refused, changing nothing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cluster_harness import ACCOUNTS, DOME, running_cluster, wait_for

from dome.client import Client

pytestmark = pytest.mark.timeout(120)
SYMBOLS = ("AAA-USD", "BBB-USD")


def _dome(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOME, *args], capture_output=True, text=True, timeout=60, check=False)


async def test_a_restored_backup_recovers_the_same_books(tmp_path: Path) -> None:
    with running_cluster(
        tmp_path / "cluster", 1, symbols=SYMBOLS, snapshot_every=5, segment_bytes=4096
    ) as cluster:
        alice = Client(discovery=cluster.discovery_address, token=ACCOUNTS["alice"])
        bob = Client(discovery=cluster.discovery_address, token=ACCOUNTS["bob"])
        await alice.connect()
        await bob.connect()
        for i in range(40):
            for symbol in SYMBOLS:
                await alice.submit_order(symbol, "sell", "3", f"{100 + i}.00")
                await bob.submit_order(symbol, "buy", "1", f"{100 + i}.00")
        await alice.close()
        await bob.close()
        live = {
            symbol: wait_for(lambda s=symbol: cluster.converged(s), 10, "a state hash")
            for symbol in SYMBOLS
        }
    data_dir = tmp_path / "cluster" / "engine-0"
    # The backup must need the snapshots: the journals' first segments are compacted away.
    assert any(data_dir.rglob("snapshot-*.json")), "no snapshot: the test would test less"
    first_segment = f"journal-{1:020d}.log"
    assert not any(data_dir.rglob(first_segment)), "nothing compacted: the test would test less"

    backup_dir = tmp_path / "backup"
    made = _dome("backup", "--data-dir", str(data_dir), "--to", str(backup_dir))
    assert made.returncode == 0, made.stderr
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["files"], manifest

    fresh = tmp_path / "fresh" / "engine-0"
    restored = _dome("restore", "--from", str(backup_dir), "--data-dir", str(fresh))
    assert restored.returncode == 0, restored.stderr
    # A fresh exchange (its own discovery) on the restored directory serves the same books.
    with running_cluster(tmp_path / "fresh", 1, symbols=SYMBOLS) as again_cluster:
        for symbol in SYMBOLS:
            hashes = wait_for(lambda s=symbol: again_cluster.converged(s), 10, "a state hash")
            assert hashes == live[symbol], symbol

    # A non-empty target is refused (restoring over journals would mix two histories).
    again = _dome("restore", "--from", str(backup_dir), "--data-dir", str(fresh))
    assert again.returncode == 1
    assert "not empty" in again.stderr, again.stderr
    # A damaged file is found before anything is copied.
    victim = backup_dir / sorted(manifest["files"])[0]
    victim.write_bytes(b"x" + victim.read_bytes()[1:])
    target = tmp_path / "other"
    damaged = _dome("restore", "--from", str(backup_dir), "--data-dir", str(target))
    assert damaged.returncode == 1
    assert "does not match the manifest" in damaged.stderr
    assert not target.exists()
