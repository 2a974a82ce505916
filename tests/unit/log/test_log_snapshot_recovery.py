"""Snapshots encode deterministically and restore exactly; recovery equals direct
application and applies nothing beyond the commit watermark."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from log_helpers import INSTRUMENT, command_batches, encoded

from dome.core.commands import Command
from dome.core.market import MarketResult
from dome.cores import PYTHON_CORE, Core, CoreError, MarketCore, native_core, python_market
from dome.log.entries import DecodedBatch
from dome.log.errors import LogFormatError, RecoveryError
from dome.log.journal import Journal
from dome.log.recovery import recover
from dome.log.snapshot import decode_snapshot, encode_snapshot
from dome.log.snapshot_store import SnapshotStore

WINDOW = 20


def run(batches: list[list[Command]], market: MarketCore | None = None) -> MarketCore:
    market = market or python_market(INSTRUMENT, WINDOW)
    for batch in batches:
        for cmd in batch:
            market.apply(cmd)
    return market


def journal_of(directory: Path, entries: list[tuple[bytes, DecodedBatch]]) -> None:
    journal = Journal.open(directory)
    for data, batch in entries:
        journal.append(data, batch)
    journal.close()


def _cores() -> list[Core]:
    """The Python core, and the native one where it is built."""
    found = [PYTHON_CORE]
    with contextlib.suppress(CoreError):
        found.append(native_core())
    return found


def test_snapshot_round_trip_into_every_core() -> None:
    market = run(command_batches(1, 1_500))
    data = encode_snapshot(market, 3, [(1, 1), (3, 700)], {"reports": {"a": 5}})
    assert data == encode_snapshot(market, 3, [(1, 1), (3, 700)], {"reports": {"a": 5}})
    for core in _cores():
        restored = decode_snapshot(data, INSTRUMENT, core.market_factory, WINDOW)
        assert restored.market.state_hash() == market.state_hash()
        assert (restored.seq, restored.epoch) == (1_500, 3)
        assert restored.epochs == [(1, 1), (3, 700)]
        assert restored.extra == {"reports": {"a": 5}}
        restored.market.book.check_invariants()
        more = command_batches(2, 500, first_seq=1_501)
        original = run(command_batches(1, 1_500))  # a fresh copy: ``market`` stays put
        assert run(more, restored.market).state_hash() == run(more, original).state_hash()


def _doc(market: MarketCore) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(encode_snapshot(market, 1, [], {}))
    return loaded


def _tampered(change: str) -> bytes:
    market = run(command_batches(3, 400))
    doc = _doc(market)
    book = doc["book"]
    assert isinstance(book, dict)
    if change == "version":
        doc["version"] = 99
    elif change == "symbol":
        doc["symbol"] = "OTHER"
    elif change == "remaining":
        book["orders"][0][7] += 1
    elif change == "enum":
        book["orders"][0][4] = 7
    elif change == "event":
        doc["seen"][0][2][0][0] = "Nope"  # type: ignore[index]
    elif change == "hash":
        doc["state_hash"] = "0" * 64
    elif change == "bool":
        book["next_trade_id"] = True
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ("version", "version 99"),
        ("symbol", "snapshot of OTHER"),
        ("remaining", "state hash|out of range"),
        ("enum", "7 is not a valid Side"),
        ("event", "not a tagged tuple"),
        ("hash", "state hash"),
        ("bool", "expected an integer"),
    ],
)
def test_tampered_snapshots_are_refused(change: str, match: str) -> None:
    with pytest.raises(LogFormatError, match=match):
        decode_snapshot(_tampered(change), INSTRUMENT, python_market, WINDOW)


def test_non_json_extra_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        encode_snapshot(run([]), 1, [], {"when": object()})


def test_store_saves_atomically_and_keeps_two(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    assert store.latest() is None
    for seq in (10, 20, 30):
        store.save(f"s{seq}".encode(), seq, 2)
    assert [s.seq for s in store.newest_first()] == [30, 20]
    latest = store.latest()
    assert latest is not None
    assert (latest.seq, latest.epoch, latest.data) == (30, 2, b"s30")
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("snapshot_at", [0, 1, 40, 77])
def test_snapshot_plus_replay_equals_direct_application(tmp_path: Path, snapshot_at: int) -> None:
    batches = command_batches(7, 2_000)
    entries = encoded(batches)
    journal_of(tmp_path, entries)
    if snapshot_at:
        upto = run(batches[:snapshot_at])
        SnapshotStore(tmp_path).save(
            encode_snapshot(upto, 1, [(1, 1)], {"chain": "x"}), upto.last_seq, 1
        )
    seen: list[tuple[DecodedBatch, list[MarketResult]]] = []
    got = recover(
        tmp_path, INSTRUMENT, python_market, WINDOW, on_batch=lambda b, r: seen.append((b, r))
    )
    direct = python_market(INSTRUMENT, WINDOW)
    expected = [[direct.apply(c) for c in batch] for batch in batches]
    # committed_seq of the last batch is its first seq - 1: it alone is pending
    assert [b.first_seq for b in got.pending] == [entries[-1][1].first_seq]
    assert got.applied_seq == entries[-2][1].last_seq
    assert [r for _, r in seen] == expected[snapshot_at:-1]
    assert got.snapshot_seq == (sum(len(b) for b in batches[:snapshot_at]))
    assert got.extra == ({"chain": "x"} if snapshot_at else {})
    for cmd in got.pending[0].commands:
        got.market.apply(cmd)
    assert got.market.state_hash() == direct.state_hash()
    got.journal.close()


def test_recovery_applies_nothing_beyond_the_commit_watermark(tmp_path: Path) -> None:
    batches = command_batches(8, 400)
    entries = encoded(batches, committed_lag=150)
    journal_of(tmp_path, entries)
    got = recover(tmp_path, INSTRUMENT, python_market, WINDOW)
    watermark = max(b.committed_seq for _, b in entries)
    assert got.committed_seq == watermark
    assert got.applied_seq <= watermark
    assert got.pending
    assert got.pending[0].first_seq == got.applied_seq + 1
    assert all(b.last_seq > watermark for b in got.pending[:1])
    assert [b.first_seq for b in got.pending] == [
        b.first_seq for _, b in entries if b.first_seq > got.applied_seq
    ]
    direct = python_market(INSTRUMENT, WINDOW)
    for batch in batches:
        if batch[-1].seq <= got.applied_seq:
            for cmd in batch:
                direct.apply(cmd)
    assert got.market.state_hash() == direct.state_hash()
    # the journal is positioned after everything, pending included
    assert got.journal.last_seq == 400
    got.journal.close()


def test_a_bad_newest_snapshot_falls_back_to_the_older(tmp_path: Path) -> None:
    batches = command_batches(9, 300)
    journal_of(tmp_path, encoded(batches, committed_lag=-(10**6)))
    store = SnapshotStore(tmp_path)
    older = run(batches[:10])
    store.save(encode_snapshot(older, 1, [(1, 1)], {}), older.last_seq, 1)
    store.save(b"{not json", 250, 1)
    got = recover(tmp_path, INSTRUMENT, python_market, WINDOW)
    assert got.snapshot_seq == older.last_seq
    assert got.market.state_hash() == run(batches).state_hash()
    got.journal.close()


def test_a_journal_starting_after_the_snapshot_is_a_recovery_error(tmp_path: Path) -> None:
    journal_of(tmp_path, encoded(command_batches(4, 50, first_seq=1)))
    journal = Journal.open(tmp_path)
    journal.reset(500, [(1, 1)])
    journal.close()
    with pytest.raises(RecoveryError, match="starts at seq 501"):
        recover(tmp_path, INSTRUMENT, python_market, WINDOW)


def test_a_journal_behind_the_snapshot_restarts_from_it(tmp_path: Path) -> None:
    batches = command_batches(5, 200)
    journal_of(tmp_path, encoded(batches[:5]))
    upto = run(batches[:20])
    SnapshotStore(tmp_path).save(encode_snapshot(upto, 2, [(1, 1), (2, 3)], {}), upto.last_seq, 2)
    got = recover(tmp_path, INSTRUMENT, python_market, WINDOW)
    assert got.applied_seq == upto.last_seq
    assert (got.journal.last_seq, got.journal.last_epoch) == (upto.last_seq, 2)
    got.journal.close()
