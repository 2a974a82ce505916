"""The sequenced command log of each symbol: journal, snapshots, recovery.

``entries`` is the record format (an encoded ``dome.v1.LogBatch``), ``journal`` the
CRC-framed segment files with group commit (``segments`` their layout, ``journal_scan``
the scan and repair on open), ``snapshot`` and ``snapshot_store`` the
state at a sequence number, ``recovery`` the restart path (snapshot, then committed
batches). Matching is not here: the log only stores and replays what the book is fed.
"""

from dome.log.entries import DecodedBatch, decode_batch, encode_batch
from dome.log.errors import (
    JournalCorrupt,
    JournalError,
    JournalGap,
    LogCompacted,
    LogFormatError,
    RecoveryError,
    StaleEpoch,
)
from dome.log.journal import FsyncPolicy, Journal
from dome.log.journal_scan import JournalDamage
from dome.log.recovery import BatchObserver, Recovered, recover, symbol_dirs
from dome.log.snapshot import RestoredSnapshot, decode_snapshot, encode_snapshot
from dome.log.snapshot_store import SnapshotStore, StoredSnapshot

__all__ = [
    "BatchObserver",
    "DecodedBatch",
    "FsyncPolicy",
    "Journal",
    "JournalCorrupt",
    "JournalDamage",
    "JournalError",
    "JournalGap",
    "LogCompacted",
    "LogFormatError",
    "Recovered",
    "RecoveryError",
    "RestoredSnapshot",
    "SnapshotStore",
    "StaleEpoch",
    "StoredSnapshot",
    "decode_batch",
    "decode_snapshot",
    "encode_batch",
    "encode_snapshot",
    "recover",
    "symbol_dirs",
]
