"""``dome replay`` as a real process: deterministic output equal to direct application (R8),
and a corrupt record reported with file and offset after what replayed before it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from log_helpers import INSTRUMENT, SYMBOL, command_batches, encoded

from dome.cli_commands.replay import render
from dome.core.commands import Command
from dome.core.market import DEFAULT_DEDUP_WINDOW
from dome.cores import python_market
from dome.log.journal import Journal
from dome.log.records import HEADER
from dome.log.segments import segment_path
from dome.log.snapshot import encode_snapshot
from dome.log.snapshot_store import SnapshotStore

DEADLINE = 120.0
COMMANDS = 3_000


def dome(*args: str) -> subprocess.CompletedProcess[bytes]:
    code = "import sys; from dome.cli import main; main(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, timeout=DEADLINE, check=False
    )


@pytest.fixture(scope="module")
def batches() -> list[list[Command]]:
    return command_batches(seed=2024, count=COMMANDS)


@pytest.fixture
def data_dir(tmp_path: Path, batches: list[list[Command]]) -> Path:
    """An engine-style data dir (DIR/<SYMBOL>/) whose every batch is committed."""
    journal = Journal.open(tmp_path / "data" / SYMBOL)
    for data, batch in encoded(batches, committed_lag=-COMMANDS):
        journal.append(data, batch)
    journal.close()
    spec = {
        "symbol": SYMBOL,
        "tick_size": "1",
        "lot_size": "1",
        "min_qty": str(INSTRUMENT.min_qty),
        "max_qty": str(INSTRUMENT.max_qty),
        "min_price": str(INSTRUMENT.min_price),
        "max_price": str(INSTRUMENT.max_price),
    }
    (tmp_path / "instruments.json").write_text(json.dumps([spec]))
    return tmp_path


def expected_lines(batches: list[list[Command]]) -> list[str]:
    market = python_market(INSTRUMENT, DEFAULT_DEDUP_WINDOW)
    lines = []
    for batch in batches:
        for cmd in batch:
            result = market.apply(cmd)
            lines.append(render(cmd, result.duplicate, result.events))
    return lines


def replay(data_dir: Path) -> subprocess.CompletedProcess[bytes]:
    return dome(
        "replay",
        "--data-dir",
        str(data_dir / "data"),
        "--symbol",
        SYMBOL,
        "--instruments",
        str(data_dir / "instruments.json"),
    )


def test_three_runs_print_the_same_bytes_as_direct_application(
    data_dir: Path, batches: list[list[Command]]
) -> None:
    runs = [replay(data_dir) for _ in range(3)]
    for run in runs:
        assert run.returncode == 0, run.stderr.decode()
    assert runs[0].stdout
    assert runs[0].stdout == runs[1].stdout == runs[2].stdout
    lines = runs[0].stdout.decode().splitlines()
    assert len(lines) == COMMANDS
    assert lines == expected_lines(batches)
    assert any('"type":"Trade"' in line for line in lines)


def test_a_corrupt_record_stops_replay_with_file_and_offset(
    data_dir: Path, batches: list[list[Command]]
) -> None:
    path = segment_path(data_dir / "data" / SYMBOL, 1)
    raw = bytearray(path.read_bytes())
    entries = encoded(batches, committed_lag=-COMMANDS)
    bad = len(entries) // 2
    offset = sum(HEADER.size + len(data) for data, _ in entries[:bad])
    raw[offset + HEADER.size + 2] ^= 0x01
    path.write_bytes(bytes(raw))
    run = replay(data_dir)
    assert run.returncode == 1
    err = run.stderr.decode()
    assert f"{path} at byte {offset}" in err
    assert "checksum mismatch" in err
    good = sum(len(b) for b in batches[:bad])
    assert run.stdout.decode().splitlines() == expected_lines(batches)[:good]
    assert path.read_bytes() == bytes(raw)  # read-only: nothing repaired or moved
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_torn_tail_is_noted_and_exits_0(data_dir: Path, batches: list[list[Command]]) -> None:
    path = segment_path(data_dir / "data" / SYMBOL, 1)
    with path.open("ab") as f:
        f.write(b"\x07\x00\x00")
    run = replay(data_dir)
    assert run.returncode == 0
    assert "torn tail" in run.stderr.decode()
    assert len(run.stdout.decode().splitlines()) == COMMANDS


def test_unknown_symbol_is_a_usage_error(data_dir: Path) -> None:
    run = dome("replay", "--data-dir", str(data_dir / "data"), "--symbol", "NOPE")
    assert run.returncode == 2
    assert b"unknown symbol 'NOPE'" in run.stderr


def test_the_engine_layout_with_a_snapshot(data_dir: Path, batches: list[list[Command]]) -> None:
    """data_dir/<SYMBOL>/journal and .../snapshots, as the engine writes them."""
    symbol_dir = data_dir / "data" / SYMBOL
    journal_dir = symbol_dir / "journal"
    journal_dir.mkdir()
    for segment in symbol_dir.glob("journal-*.log"):
        segment.rename(journal_dir / segment.name)
    market = python_market(INSTRUMENT, DEFAULT_DEDUP_WINDOW)
    upto = 40
    for batch in batches[:upto]:
        for cmd in batch:
            market.apply(cmd)
    data = encode_snapshot(market, 1, [(1, 1)], {})
    SnapshotStore(symbol_dir / "snapshots").save(data, market.last_seq, 1)
    run = replay(data_dir)
    assert run.returncode == 0, run.stderr.decode()
    assert f"snapshot at seq {market.last_seq}" in run.stderr.decode()
    skipped = sum(len(b) for b in batches[:upto])
    assert run.stdout.decode().splitlines() == expected_lines(batches)[skipped:]
