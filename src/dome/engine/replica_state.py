"""What every role of one symbol's replica shares: its state and how it applies.

``Replica`` (``replica.py``) is assembled from this base, the primary's half
(``primary.py``) and the follower's half (``follower.py``); each half reads and moves the
state declared here, and nothing else.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from dome.engine.applier import Applier
from dome.engine.errors import NotPrimary, Unavailable
from dome.engine.peers import Peers
from dome.log.entries import DecodedBatch
from dome.log.errors import JournalError
from dome.log.journal import Journal

if TYPE_CHECKING:
    from dome.engine.primary import FollowerSession

log = logging.getLogger("dome.engine.replica")


class Role(enum.Enum):
    """What this engine does for a symbol right now."""

    NONE = "none"
    ELECTING = "electing"
    PRIMARY = "primary"
    FOLLOWER = "follower"


class DiscoveryLink(Protocol):
    """The part of the discovery agent a replica needs."""

    def lease_valid(self) -> bool:
        """Whether this engine's lease is certainly still alive."""
        ...

    def poke(self) -> None:
        """Send a heartbeat (with fresh reports) now."""
        ...

    async def update_in_sync(self, symbol: str, epoch: int, in_sync: list[str]) -> bool:
        """Ask discovery to record a new in-sync set; True once recorded."""
        ...


class ReplicaStats(Protocol):
    """Metrics a replica moves."""

    def observe_role(self, role: str, epoch: int) -> None:
        """Record the role and epoch."""
        ...

    def observe_commit(self, seconds: float, lag: int) -> None:
        """A batch committed after ``seconds``; the slowest required follower lags ``lag``."""
        ...

    def observe_refused(self) -> None:
        """A replication entry was refused (gap, older epoch, malformed)."""
        ...


class ReplicaState:
    """The log of one symbol on this engine: journal, pending batches, role and epoch."""

    def __init__(
        self,
        *,
        engine_id: str,
        symbol: str,
        journal: Journal,
        applier: Applier,
        coordinator: DiscoveryLink,
        peers: Peers,
        pending: Sequence[DecodedBatch] = (),
        stats: ReplicaStats | None = None,
        on_snapshot_due: Callable[[], None] | None = None,
        install_snapshot: Callable[[bytes], Any] | None = None,
    ) -> None:
        self.engine_id = engine_id
        self.symbol = symbol
        self.journal = journal
        self.applier = applier
        self._coordinator = coordinator
        self._peers = peers
        self._stats = stats
        self._on_applied = on_snapshot_due
        self._install_snapshot = install_snapshot
        self.pending: deque[DecodedBatch] = deque(pending)
        self.role = Role.NONE
        self.epoch = journal.last_epoch
        self.primary_id = ""
        self.acks = "all"
        self.followers: list[str] = []
        self.in_sync: set[str] = set()
        self.committed_seq = applier.market.last_seq
        self._sessions: dict[str, FollowerSession] = {}
        self._joining: set[str] = set()
        self._isr_lock = asyncio.Lock()
        self._progress = asyncio.Event()
        self._follow_task: asyncio.Task[None] | None = None
        self._isr_tasks: set[asyncio.Task[None]] = set()
        #: Why this engine stopped the symbol (its journal failed an fsync); None while
        #: healthy. Only a restart clears it: the process then recovers from the disk.
        self.failed: str | None = None

    # ------------------------------------------------------------------ reporting

    @property
    def applied_seq(self) -> int:
        """Last sequence number applied to the market."""
        return self.applier.market.last_seq

    @property
    def next_seq(self) -> int:
        """Where the next batch this engine sequences starts: the journal's end + 1.

        A batch the journal refused left it unchanged; one journaled that failed to
        commit keeps its numbers (a later commit covers it).
        """
        return self.journal.last_seq + 1

    def writable(self) -> bool:
        """Whether this engine may sequence the symbol now."""
        return self.role is Role.PRIMARY and self._coordinator.lease_valid()

    def check_writable(self) -> None:
        """Raise ``NotPrimary`` or ``Unavailable`` unless ``writable()``."""
        if self.failed is not None:
            raise Unavailable(self.failed)
        if self.role is Role.PRIMARY:
            if not self._coordinator.lease_valid():
                raise Unavailable(f"{self.symbol}: this engine's lease lapsed; not taking writes")
            return
        if self.primary_id and self.primary_id != self.engine_id:
            raise NotPrimary(
                f"{self.symbol}: primary is {self.primary_id} (epoch {self.epoch}), not "
                f"{self.engine_id}"
            )
        raise Unavailable(f"{self.symbol}: no primary yet (epoch {self.epoch} election open)")

    def fail(self, exc: JournalError) -> Unavailable:
        """Stop the symbol on this engine for good: its journal failed an fsync.

        Never retried (PostgreSQL's fsync lesson): after a failed fsync the kernel may
        have dropped the pages, so nothing since the last good fsync can be vouched for.
        The replica serves no writes and no followers, follows nobody, and reports
        ``failed`` at once so that discovery moves leadership to an in-sync replica and
        never elects this one for the symbol; only a restart (recovery from what the
        disk really holds) brings it back. Returns the error to give the callers.
        """
        if self.failed is None:
            self.failed = (
                f"{self.symbol}: stopped on {self.engine_id} after a journal fsync failed "
                f"({exc}); retry: another replica takes over"
            )
            log.critical(
                "journal fsync failed; symbol stopped on this engine",
                extra={"symbol": self.symbol, "epoch": self.epoch, "error": str(exc)},
            )
            self._stand_down()
            self._coordinator.poke()
        return Unavailable(self.failed)

    def _stand_down(self) -> None:
        """Drop every role: close follower sessions and stop following."""
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
        self._joining.clear()
        if self._follow_task is not None and self._follow_task is not asyncio.current_task():
            self._follow_task.cancel()
        self._follow_task = None
        self.role = Role.NONE
        if self._stats is not None:
            self._stats.observe_role(self.role.value, self.epoch)
        self._progress.set()

    # ------------------------------------------------------------------ applying

    def _apply_through(self, seq: int) -> None:
        """Apply pending batches up to ``seq`` (committed), in order."""
        pending = self.pending
        applied_any = False
        while pending and pending[0].last_seq <= seq:
            batch = pending.popleft()
            if batch.last_seq <= self.applied_seq:
                continue
            self.applier.apply(batch.commands, sequenced=False)
            applied_any = True
        if applied_any:
            self._snapshot_due()

    def _snapshot_due(self) -> None:
        """Let the engine snapshot; a failure there must never fail what was committed."""
        if self._on_applied is None:
            return
        try:
            self._on_applied()
        except Exception:
            log.exception("snapshot check failed", extra={"symbol": self.symbol})
