"""An engine is ready only with every replica it was given in sync (dome.engine.health).

Each case is one symbol's placement (from discovery) against what the replica on this
engine, ``e0``, is doing; the readiness probe turns SERVING only when every symbol's
row is true.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dome.engine.health import engine_ready, replica_in_sync
from dome.engine.replica import Role
from dome.v1 import discovery_pb2 as ds

ME = "e0"


def placement(primary: str, followers: list[str], in_sync: list[str]) -> ds.SymbolPlacement:
    return ds.SymbolPlacement(
        symbol="AAA-USD", epoch=3, primary=primary, followers=followers, in_sync=in_sync
    )


def replica(role: Role, failed: str | None = None) -> Any:
    return SimpleNamespace(role=role, failed=failed)


@pytest.mark.parametrize(
    ("sp", "role", "failed", "ready"),
    [
        # The primary here, and leading: ready.
        (placement(ME, ["e1"], [ME, "e1"]), Role.PRIMARY, None, True),
        # Named primary, but not promoted yet.
        (placement(ME, ["e1"], [ME]), Role.ELECTING, None, False),
        # A follower the primary counts in sync.
        (placement("e1", [ME], ["e1", ME]), Role.FOLLOWER, None, True),
        # A follower still catching up: not in the in-sync set.
        (placement("e1", [ME], ["e1"]), Role.FOLLOWER, None, False),
        # In sync on paper, but this replica does not follow (yet).
        (placement("e1", [ME], ["e1", ME]), Role.NONE, None, False),
        # An election is open: no primary.
        (placement("", [ME, "e1"], [ME, "e1"]), Role.ELECTING, None, False),
        # A symbol this engine holds no replica of asks nothing of it.
        (placement("e1", ["e2"], ["e1", "e2"]), Role.NONE, None, True),
        # A replica stopped on a failure.
        (placement("e1", [ME], ["e1", ME]), Role.FOLLOWER, "journal full", False),
        # Never placed.
        (None, Role.NONE, None, False),
    ],
)
def test_one_symbol(
    sp: ds.SymbolPlacement | None, role: Role, failed: str | None, ready: bool
) -> None:
    assert replica_in_sync(ME, replica(role, failed), sp) is ready


def member(*, lease: bool, symbols: dict[str, tuple[ds.SymbolPlacement, Role]] | None) -> Any:
    current = None if symbols is None else ds.Placement(symbols=[sp for sp, _ in symbols.values()])
    agent = SimpleNamespace(lease_valid=lambda: lease, current_placement=current)
    replicas = {name: replica(role) for name, (_, role) in (symbols or {}).items()}
    return SimpleNamespace(engine_id=ME, agent=agent, replicas=replicas)


def _sp(symbol: str, primary: str, followers: list[str], in_sync: list[str]) -> ds.SymbolPlacement:
    return ds.SymbolPlacement(
        symbol=symbol, epoch=1, primary=primary, followers=followers, in_sync=in_sync
    )


def test_ready_needs_every_symbol_in_sync_a_lease_and_a_placement() -> None:
    good = {
        "AAA-USD": (_sp("AAA-USD", ME, ["e1"], [ME, "e1"]), Role.PRIMARY),
        "BBB-USD": (_sp("BBB-USD", "e1", [ME], ["e1", ME]), Role.FOLLOWER),
    }
    assert engine_ready(member(lease=True, symbols=good))
    lagging = {**good, "BBB-USD": (_sp("BBB-USD", "e1", [ME], ["e1"]), Role.FOLLOWER)}
    assert not engine_ready(member(lease=True, symbols=lagging))
    assert not engine_ready(member(lease=False, symbols=good))
    assert not engine_ready(member(lease=True, symbols=None))
    # A standalone engine (no discovery) is ready once it serves.
    assert engine_ready(None)
