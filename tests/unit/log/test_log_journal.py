"""The journal: appends that survive reopening, refusals that write nothing, and damage
that ends the journal at the last good record without losing the evidence."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from log_helpers import SYMBOL, command_batches, encoded

from dome.core.commands import CancelOrder
from dome.log.entries import DecodedBatch, decode_batch, encode_batch
from dome.log.errors import JournalError, JournalGap, LogCompacted, StaleEpoch
from dome.log.journal import FsyncPolicy, Journal
from dome.log.records import HEADER, frame
from dome.log.segments import segment_path

Entries = list[tuple[bytes, DecodedBatch]]


def fill(journal: Journal, entries: Entries) -> None:
    for data, batch in entries:
        journal.append(data, batch)


def held(journal: Journal) -> list[bytes]:
    return list(journal.read_from(journal.first_seq))


@pytest.fixture
def entries() -> Entries:
    return encoded(command_batches(seed=5, count=300))


def test_appended_records_come_back_after_reopening(tmp_path: Path, entries: Entries) -> None:
    journal = Journal.open(tmp_path)
    assert (journal.first_seq, journal.last_seq, journal.last_epoch) == (1, 0, 0)
    fill(journal, entries)
    journal.close()
    again = Journal.open(tmp_path)
    assert again.damage is None
    assert again.last_seq == 300
    assert held(again) == [data for data, _ in entries]
    middle = entries[10][1]
    inside = (middle.first_seq + middle.last_seq) // 2
    assert next(again.read_from(inside)) == entries[10][0]
    assert list(again.read_from(301)) == []
    assert [b.first_seq for b in again.batches(inside)] == [b.first_seq for _, b in entries[10:]]


def test_a_gap_or_an_older_epoch_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    first = encoded(command_batches(1, 5), epoch=3)
    fill(journal, first)
    path = segment_path(tmp_path, 1)
    size = path.stat().st_size
    gap = encoded(command_batches(2, 3, first_seq=7), epoch=3)[0]
    with pytest.raises(JournalGap, match="starts at seq 7, the journal expects 6") as gap_info:
        journal.append(*gap)
    assert (gap_info.value.expected, gap_info.value.got) == (6, 7)
    stale = encoded(command_batches(2, 3, first_seq=6), epoch=2)[0]
    with pytest.raises(StaleEpoch, match="epoch 2 is older than the journal's epoch 3"):
        journal.append(*stale)
    assert path.stat().st_size == size
    assert journal.last_seq == 5
    newer = encoded(command_batches(2, 3, first_seq=6), epoch=4)[0]
    journal.append(*newer)
    assert journal.last_epoch == 4


def _append_torn(path: Path, garbage: bytes) -> None:
    with path.open("ab") as f:
        f.write(garbage)


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(lambda record: record[: len(record) // 2], id="record-cut-mid-payload"),
        pytest.param(lambda record: record[:5], id="partial-header"),
        pytest.param(lambda record: b"\0" * 4096, id="zero-filled"),
    ],
)
def test_a_torn_tail_is_dropped_and_never_returned(
    tmp_path: Path, entries: Entries, tail: object, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal.open(tmp_path)
    fill(journal, entries[:-1])
    journal.close()
    path = segment_path(tmp_path, 1)
    good_size = path.stat().st_size
    # what a crash in the middle of the last append leaves behind
    _append_torn(path, tail(frame(entries[-1][0])))  # type: ignore[operator]
    with caplog.at_level(logging.WARNING, "dome.log.journal"):
        again = Journal.open(tmp_path)
    assert again.damage is not None
    assert again.damage.torn
    assert "torn tail" in caplog.text
    assert str(path) in caplog.text
    assert again.last_seq == entries[-2][1].last_seq
    assert held(again) == [data for data, _ in entries[:-1]]
    assert path.stat().st_size == good_size
    again.append(*entries[-1])  # the journal goes on where the good records end
    again.close()
    third = Journal.open(tmp_path)
    assert third.damage is None
    assert held(third) == [data for data, _ in entries]


def test_a_flipped_byte_ends_the_journal_at_the_last_good_record(
    tmp_path: Path, entries: Entries, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal.open(tmp_path)
    fill(journal, entries)
    journal.close()
    path = segment_path(tmp_path, 1)
    raw = bytearray(path.read_bytes())
    bad = 20
    offset = sum(HEADER.size + len(data) for data, _ in entries[:bad])
    raw[offset + HEADER.size + 3] ^= 0x40
    path.write_bytes(bytes(raw))
    with caplog.at_level(logging.ERROR, "dome.log.journal"):
        again = Journal.open(tmp_path)
    assert again.damage is not None
    assert not again.damage.torn
    assert again.damage.offset == offset
    assert f"{path} at byte {offset}: payload checksum mismatch" in caplog.text
    assert again.last_seq == entries[bad - 1][1].last_seq
    assert held(again) == [data for data, _ in entries[:bad]]
    moved = path.with_name(f"{path.name}.corrupt-{offset}")
    assert moved.read_bytes() == bytes(raw[offset:])  # kept for inspection, byte for byte
    assert path.stat().st_size == offset
    # the next batch continues from the last good record
    again.append(*entries[bad])
    assert again.last_seq == entries[bad][1].last_seq


def test_damage_in_an_early_segment_moves_the_later_ones_aside(
    tmp_path: Path, entries: Entries
) -> None:
    journal = Journal.open(tmp_path, segment_bytes=2_000)
    fill(journal, entries)
    journal.close()
    segments = sorted(tmp_path.glob("journal-*.log"))
    assert len(segments) > 3
    raw = bytearray(segments[1].read_bytes())
    raw[HEADER.size + 1] ^= 0xFF
    segments[1].write_bytes(bytes(raw))
    again = Journal.open(tmp_path)
    assert again.damage is not None
    assert again.damage.path == segments[1]
    assert again.damage.offset == 0
    assert sorted(tmp_path.glob("journal-*.log")) == segments[:1]
    assert {p.name for p in tmp_path.glob("*.corrupt-0")} == {
        f"{p.name}.corrupt-0" for p in segments[1:]
    }
    assert again.last_seq == int(segments[1].name[8:28]) - 1


def test_an_undecodable_record_with_a_good_crc_is_damage(tmp_path: Path, entries: Entries) -> None:
    journal = Journal.open(tmp_path)
    fill(journal, entries[:3])
    journal.close()
    with segment_path(tmp_path, 1).open("ab") as f:
        f.write(frame(b"\xff\xff"))  # checks out as a record, is no batch
    again = Journal.open(tmp_path)
    assert again.damage is not None
    assert "undecodable batch" in again.damage.reason
    assert again.last_seq == entries[2][1].last_seq


def test_read_only_opening_reports_and_changes_nothing(tmp_path: Path, entries: Entries) -> None:
    journal = Journal.open(tmp_path)
    fill(journal, entries)
    journal.close()
    path = segment_path(tmp_path, 1)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    before = sorted(p.name for p in tmp_path.iterdir())
    reader = Journal.open(tmp_path, read_only=True)
    assert reader.damage is not None
    assert reader.damage.moved_to is None
    assert held(reader) == [data for data, _ in entries[:-1]]
    with pytest.raises(JournalError, match="read-only"):
        reader.append(*entries[-1])
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert path.read_bytes() == bytes(raw)


def test_truncate_after_drops_whole_batches_only(tmp_path: Path, entries: Entries) -> None:
    journal = Journal.open(tmp_path, segment_bytes=2_000)
    fill(journal, entries)
    cut = entries[30][1]
    wide = next(b for _, b in entries if b.last_seq > b.first_seq)
    with pytest.raises(ValueError, match="inside a batch"):
        journal.truncate_after(wide.first_seq)
    journal.truncate_after(cut.last_seq)
    assert journal.last_seq == cut.last_seq
    assert held(journal) == [data for data, _ in entries[:31]]
    journal.append(*entries[31])
    journal.close()
    again = Journal.open(tmp_path)
    assert again.damage is None
    assert held(again) == [data for data, _ in entries[:32]]
    # down to nothing, and never below the start
    again.truncate_after(0)
    assert (again.last_seq, held(again)) == (0, [])
    with pytest.raises(ValueError, match="starts at 1"):
        again.truncate_after(-1)
    again.append(*entries[0])
    assert again.last_seq == entries[0][1].last_seq


def test_truncate_after_on_every_boundary(tmp_path: Path) -> None:
    """Segment boundaries included: each cut leaves exactly the batches up to it."""
    entries = encoded(command_batches(9, 60))
    for keep in range(0, len(entries), 3):
        directory = tmp_path / str(keep)
        journal = Journal.open(directory, segment_bytes=500)
        fill(journal, entries)
        journal.truncate_after(entries[keep - 1][1].last_seq if keep else 0)
        journal.close()
        again = Journal.open(directory)
        assert held(again) == [data for data, _ in entries[:keep]]
        again.close()


def _epoch_entries() -> Entries:
    out: Entries = []
    seq = 1
    for epoch in (1, 1, 2, 2, 2, 5):
        data = encode_batch(
            SYMBOL, epoch, [CancelOrder(seq, 0, "a", 1), CancelOrder(seq + 1, 0, "a", 1)], 0
        )
        out.append((data, decode_batch(data)))
        seq += 2
    return out


def test_epochs_and_end_of_epoch(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    fill(journal, _epoch_entries())
    assert journal.epochs() == [(1, 1), (2, 5), (5, 11)]
    assert [journal.end_of_epoch(e) for e in range(7)] == [0, 4, 10, 10, 10, 12, 12]
    journal.truncate_after(6)
    assert journal.epochs() == [(1, 1), (2, 5)]
    assert journal.last_epoch == 2
    journal.close()
    assert Journal.open(tmp_path).epochs() == [(1, 1), (2, 5)]


def test_compaction_keeps_the_active_segment_and_the_epoch_history(tmp_path: Path) -> None:
    entries = _epoch_entries()
    journal = Journal.open(tmp_path, segment_bytes=1)  # one batch per segment
    fill(journal, entries)
    assert len(list(tmp_path.glob("journal-*.log"))) == 6
    assert journal.compact(3) == 1  # segment 1-2 only: 3-4 still holds 4
    assert journal.first_seq == 3
    assert journal.compact(8) == 3
    assert journal.first_seq == 9
    with pytest.raises(LogCompacted, match="starts at 9"):
        list(journal.read_from(8))
    assert journal.compact(100) == 1  # everything but the segment being written
    assert journal.first_seq == 11
    journal.close()
    again = Journal.open(tmp_path)
    assert again.first_seq == 11
    assert again.epochs() == [(1, 1), (2, 5), (5, 11)]
    assert again.end_of_epoch(1) == 4
    assert held(again) == [entries[-1][0]]


def test_reset_continues_after_an_installed_snapshot(tmp_path: Path, entries: Entries) -> None:
    journal = Journal.open(tmp_path)
    fill(journal, entries[:5])
    journal.reset(1_000, [(1, 1), (4, 600), (9, 2_000)])
    assert (journal.first_seq, journal.last_seq, journal.last_epoch) == (1_001, 1_000, 4)
    later = encoded(command_batches(3, 4, first_seq=1_001), epoch=4)
    fill(journal, later)
    journal.close()
    again = Journal.open(tmp_path)
    assert again.first_seq == 1_001
    assert again.epochs() == [(1, 1), (4, 600)]
    assert held(again) == [data for data, _ in later]


@pytest.mark.parametrize(("policy", "per_append"), [("always", 1), ("batch", 0), ("none", 0)])
def test_append_fsyncs_only_under_always(
    tmp_path: Path, entries: Entries, policy: str, per_append: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.open(tmp_path, FsyncPolicy(policy))
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    fill(journal, entries[:10])
    assert len(calls) == 10 * per_append


def test_closed_journal_refuses_appends(tmp_path: Path, entries: Entries) -> None:
    journal = Journal.open(tmp_path)
    journal.close()
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.append(*entries[0])
