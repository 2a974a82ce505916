"""Rebuilding a symbol's market after a restart: newest good snapshot, then the journal.

Replay rule: a batch is applied only when it is known committed, i.e. its ``last_seq``
is at or below the commit watermark ``max(snapshot seq, highest committed_seq field in
the journal)``. A replica journals a batch before it is committed, and an uncommitted
tail may be dropped by the next primary (``Journal.truncate_after``); applying it would
publish trades that never happened. Batches beyond the watermark stay journaled and
come back as ``pending``: the engine applies them when the primary confirms them, or
when this engine is promoted (then it holds every acknowledged entry by construction).

The engine sees every applied batch through ``on_batch`` while replay runs, because its
execution-report stage must observe replayed commands too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from dome.core.instrument import Instrument
from dome.core.market import DEFAULT_DEDUP_WINDOW, MarketResult
from dome.cores import MarketCore, MarketFactory
from dome.log.entries import DecodedBatch
from dome.log.errors import LogFormatError, RecoveryError
from dome.log.journal import DEFAULT_SEGMENT_BYTES, FsyncPolicy, Journal
from dome.log.snapshot import RestoredSnapshot, decode_snapshot
from dome.log.snapshot_store import SnapshotStore

log = logging.getLogger("dome.log.recovery")

#: Called with each applied batch and the market's result for each of its commands.
BatchObserver = Callable[[DecodedBatch, list[MarketResult]], None]


class Recovered(NamedTuple):
    """Everything the engine needs to resume a symbol."""

    market: MarketCore
    #: Open for appending (unless recovered read-only), positioned after the last batch.
    journal: Journal
    snapshots: SnapshotStore
    #: The snapshot's ``extra`` (empty without a snapshot).
    extra: dict[str, Any]
    #: Sequence number of the snapshot used (0 for none).
    snapshot_seq: int
    #: Last sequence number applied to ``market`` (== ``market.last_seq``).
    applied_seq: int
    #: The commit watermark replay used.
    committed_seq: int
    #: Journaled batches beyond the watermark, oldest first, not applied.
    pending: list[DecodedBatch]


def symbol_dirs(directory: str | Path) -> tuple[Path, Path]:
    """(journal directory, snapshot directory) of one symbol's data directory.

    The engine keeps ``journal/`` and ``snapshots/`` under ``data_dir/<symbol>/``; a
    directory without a ``journal/`` holds both itself (the flat layout).
    """
    directory = Path(directory)
    if (directory / "journal").is_dir():
        return directory / "journal", directory / "snapshots"
    return directory, directory


def recover(
    directory: str | Path,
    instrument: Instrument,
    market_factory: MarketFactory,
    dedup_window: int = DEFAULT_DEDUP_WINDOW,
    fsync: FsyncPolicy = FsyncPolicy.BATCH,
    *,
    on_batch: BatchObserver | None = None,
    read_only: bool = False,
    include_pending: bool = False,
    snapshot_dir: str | Path | None = None,
    segment_bytes: int = DEFAULT_SEGMENT_BYTES,
) -> Recovered:
    """Load the newest readable snapshot, open the journal, replay committed batches.

    The journal is in ``directory``, the snapshots in ``snapshot_dir`` (default: the
    same directory). ``include_pending`` applies the uncommitted tail too (for
    inspection tools only). ``read_only`` repairs nothing on disk (see
    ``Journal.open``). ``RecoveryError`` when the journal starts after the snapshot
    ends: the entries between are gone here.
    """
    directory = Path(directory)
    snapshots = SnapshotStore(directory if snapshot_dir is None else snapshot_dir)
    restored = _newest_good_snapshot(snapshots, instrument, market_factory, dedup_window)
    journal = Journal.open(directory, fsync, read_only=read_only, segment_bytes=segment_bytes)
    try:
        if restored is None:
            market = market_factory(instrument, dedup_window)
            snapshot_seq, extra = 0, {}
        else:
            market, snapshot_seq, extra = restored.market, restored.seq, restored.extra
        if journal.first_seq > snapshot_seq + 1:
            raise RecoveryError(
                f"{directory}: the journal starts at seq {journal.first_seq} but the "
                f"snapshot ends at {snapshot_seq}; the entries between are missing"
            )
        if restored is not None and journal.last_seq < snapshot_seq:
            # The journal lost a tail the snapshot holds (or was never written): continue
            # the journal from the snapshot, the committed state.
            log.warning(
                "%s: journal ends at seq %d, before the snapshot at %d; restarting it there",
                directory,
                journal.last_seq,
                snapshot_seq,
            )
            if not read_only:
                journal.reset(snapshot_seq, restored.epochs)
        watermark = max(snapshot_seq, journal.committed_seq)
        pending: list[DecodedBatch] = []
        if journal.last_seq > snapshot_seq:
            for batch in journal.batches(snapshot_seq + 1):
                if pending or (batch.last_seq > watermark and not include_pending):
                    pending.append(batch)
                    continue
                if batch.first_seq <= snapshot_seq:  # straddles the snapshot: skip its head
                    commands = tuple(c for c in batch.commands if c.seq > snapshot_seq)
                    batch = batch._replace(first_seq=snapshot_seq + 1, commands=commands)
                results = market.apply_batch(batch.commands)
                if on_batch is not None:
                    on_batch(batch, results)
    except BaseException:
        journal.close()
        raise
    return Recovered(
        market,
        journal,
        snapshots,
        extra,
        snapshot_seq,
        market.last_seq,
        watermark,
        pending,
    )


def _newest_good_snapshot(
    snapshots: SnapshotStore,
    instrument: Instrument,
    market_factory: MarketFactory,
    dedup_window: int,
) -> RestoredSnapshot | None:
    for stored in snapshots.newest_first():
        try:
            return decode_snapshot(stored.data, instrument, market_factory, dedup_window)
        except LogFormatError as exc:
            log.error(
                "%s: snapshot at seq %d is unusable (%s); trying an older one",
                snapshots.directory,
                stored.seq,
                exc,
            )
    return None
