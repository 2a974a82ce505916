"""A process killed (SIGKILL, by a ``dome.faults`` crash point) half way through a
truncation or a compaction leaves a journal that opens clean: continuous, no damage.

A child builds a journal of many small segments, then truncates or compacts it with
``DOME_CRASH_POINT`` armed so that it dies after deleting the first doomed segment. The
order of deletion is what makes that safe: a truncation deletes the newest segments
first (a crash leaves a longer tail, truncated again at the next rejoin), a compaction
the oldest first (a crash leaves a journal that starts later). The other way round, a
crash leaves a hole that opening must treat as corruption.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dome.log.journal import Journal

CHILD = """
import sys
from dome.core.commands import CancelOrder
from dome.log.entries import decode_batch, encode_batch
from dome.log.journal import FsyncPolicy, Journal

journal = Journal.open(sys.argv[1], FsyncPolicy.BATCH, segment_bytes=256)
for seq in range(1, 201):
    data = encode_batch("CRASH", 1, [CancelOrder(seq, seq, "acct", seq)], seq - 1)
    journal.append(data, decode_batch(data))
bases = [int(p.name[8:28]) for p in sorted(journal.directory.glob("journal-*.log"))]
assert len(bases) > 6, bases
if sys.argv[2] == "truncate":
    journal.truncate_after(bases[2])  # keeps segments 0..2 (the cut inside segment 2)
else:
    journal.compact(bases[-3] - 1)  # deletes every segment before the third-last
raise SystemExit("the crash point did not fire")
"""


@pytest.mark.parametrize(("operation", "point"), [("truncate", "journal.truncate"),
                                                  ("compact", "journal.compact")])  # fmt: skip
def test_a_crash_part_way_leaves_a_continuous_journal(
    tmp_path: Path, operation: str, point: str
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), operation],
        env={**os.environ, "DOME_CRASH_POINT": f"{point}:1"},
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == -9, child.stderr.decode()
    assert f'"point":"{point}"'.encode() in child.stderr
    journal = Journal.open(tmp_path)
    assert journal.damage is None, journal.damage.describe()
    seqs = [c.seq for batch in journal.batches() for c in batch.commands]
    assert seqs == list(range(journal.first_seq, journal.last_seq + 1))
    if operation == "truncate":
        assert journal.first_seq == 1
        assert 1 < journal.last_seq < 200, "part of the tail is gone, not all of it"
    else:
        assert journal.last_seq == 200
        assert journal.first_seq > 1, "the oldest segment went first"
    assert not list(tmp_path.glob("*.corrupt-*"))
    journal.close()
