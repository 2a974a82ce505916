"""The values discovery reasons about: stored symbol records, replica reports, snapshots.

Plain frozen dataclasses with no I/O, shared by the pure core, the stores, the gRPC
codec and the agent, so each of those speaks one vocabulary and none imports another.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Acks(StrEnum):
    """When a primary acknowledges an entry (see DESIGN.md section 3)."""

    #: Every in-sync replica has journaled it; any in-sync replica can be promoted.
    ALL = "all"
    #: A majority of the replica set has journaled it; promotion needs a majority's reports.
    MAJORITY = "majority"


@dataclass(frozen=True)
class SymbolRecord:
    """What the store keeps per symbol: the authority that survives a discovery restart.

    ``primary`` is empty while an election is open; then ``followers`` lists every
    member of the replica set (the old primary included), so an election can resume
    after a restart from the record alone.
    """

    epoch: int
    primary: str
    followers: tuple[str, ...]
    in_sync: tuple[str, ...]

    @property
    def members(self) -> tuple[str, ...]:
        """The replica set: primary (if any) then followers."""
        return (self.primary, *self.followers) if self.primary else self.followers

    def to_json(self) -> dict[str, object]:
        return {
            "epoch": self.epoch,
            "primary": self.primary,
            "followers": list(self.followers),
            "in_sync": list(self.in_sync),
        }

    @classmethod
    def from_json(cls, raw: object) -> SymbolRecord:
        """Parse a stored record; raises ``ValueError`` when it is not one."""
        if not isinstance(raw, dict):
            raise ValueError(f"a symbol record must be an object: {raw!r}")
        try:
            epoch = raw["epoch"]
            primary = raw["primary"]
            followers = tuple(raw["followers"])
            in_sync = tuple(raw["in_sync"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed symbol record {raw!r}: {exc}") from None
        if not isinstance(epoch, int) or epoch < 0 or not isinstance(primary, str):
            raise ValueError(f"malformed symbol record {raw!r}")
        if not all(isinstance(e, str) for e in (*followers, *in_sync)):
            raise ValueError(f"malformed symbol record {raw!r}")
        return cls(epoch, primary, followers, in_sync)


@dataclass(frozen=True)
class Versioned:
    """A stored record and the opaque version a compare-and-set must name."""

    record: SymbolRecord
    version: str


@dataclass(frozen=True)
class Report:
    """What one engine says it holds for one symbol (the wire's ``ReplicaReport``)."""

    symbol: str
    epoch: int = 0
    journaled_seq: int = 0
    last_epoch: int = 0
    applied_seq: int = 0
    writable: bool = False
    #: The engine stopped the symbol (a journal fsync failed): no role for it there.
    failed: bool = False


@dataclass(frozen=True)
class SymbolView:
    """One symbol as published: the record plus the primary's last reported sequence."""

    symbol: str
    epoch: int
    primary: str
    followers: tuple[str, ...]
    in_sync: tuple[str, ...]
    seq: int


@dataclass(frozen=True)
class EngineView:
    """One registered engine as published."""

    engine_id: str
    address: str
    metrics_url: str
    alive: bool
    #: Handing off its primaries before it stops.
    draining: bool = False
    #: Where it serves replication; empty: through ``address``.
    peer_address: str = ""


@dataclass(frozen=True)
class PlacementView:
    """The whole placement map as published under ``version``."""

    version: int
    symbols: tuple[SymbolView, ...] = ()
    engines: tuple[EngineView, ...] = ()
    replication_factor: int = 0
    acks: str = Acks.ALL.value

    def symbol(self, name: str) -> SymbolView | None:
        """The view of ``name``, or None when it is not placed."""
        return next((s for s in self.symbols if s.symbol == name), None)


@dataclass(frozen=True)
class Proposal:
    """A record change the core wants persisted before it is published.

    ``expected`` is the version the store must still hold (None: the record must not
    exist yet). ``reason`` is for logs and metrics only.
    """

    symbol: str
    record: SymbolRecord
    expected: str | None
    reason: str
    #: The elected primary's journaled sequence, when this names a winner.
    seq: int | None = None
    #: The primary an election opened by this proposal replaces.
    old_primary: str | None = None
    #: The preferred winner of a planned move.
    target: str | None = None
