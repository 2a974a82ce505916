"""Installing a snapshot fetched from the primary: a crash at any step must recover.

A follower too far behind (or diverging below what it applied) replaces its state with
the primary's snapshot at ``seq``: its journal then continues from ``seq + 1``. On disk
that is two changes, the snapshot file and the journal, and no single rename covers both,
so the order is what makes it safe:

1. Delete kept snapshots above ``seq``: they describe the history being replaced, and
   recovery would otherwise prefer them (newest first) over the one being installed.
2. Save the new snapshot (atomically).
3. Reset the journal to start after ``seq``.

A crash before 2 recovers the old state (old snapshots, old journal), and the follower
fetches again. A crash between 2 and 3 recovers from the new snapshot with the old
journal: what that journal holds beyond ``seq`` is replayed only if it was committed
(which the new primary's log holds too) and is otherwise a pending tail that the next
rejoin truncates; if it ends before ``seq``, recovery restarts it there. The other order
(journal first) left a journal starting at ``seq + 1`` next to snapshots that end below
it, which recovery must refuse: the engine could not start again.
"""

from __future__ import annotations

from collections.abc import Sequence

from dome import faults
from dome.log.journal import Journal
from dome.log.snapshot_store import SnapshotStore


def install_snapshot(
    journal: Journal,
    snapshots: SnapshotStore,
    data: bytes,
    seq: int,
    epoch: int,
    epochs: Sequence[tuple[int, int]],
) -> None:
    """Make ``data`` (a snapshot at ``seq`` of the batch epoch ``epoch``) this replica's
    durable state, with an empty journal after it; ``epochs`` is the snapshot's epoch
    history."""
    snapshots.drop_after(seq)
    snapshots.save(data, seq, epoch)
    if faults.ARMED:
        faults.crash("snapshot.install")
    journal.reset(seq, epochs)
