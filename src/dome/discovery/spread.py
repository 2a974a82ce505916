"""Deterministic spreading: the first placement of symbols, and clients over engines.

Pure functions of sorted inputs, so every discovery process (and every test) computes
the same answer for the same engines, and a restart does not reshuffle clients.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from dome.discovery.records import SymbolRecord


def replica_count(replication_factor: int, live_engines: int) -> int:
    """R = min(replication factor, live engines), at least 1.

    >>> replica_count(3, 5), replica_count(3, 2), replica_count(3, 0)
    (3, 2, 1)
    """
    return max(1, min(replication_factor, live_engines))


def initial_placement(
    symbols: Iterable[str], engines: Iterable[str], replication_factor: int, epoch: int = 1
) -> dict[str, SymbolRecord]:
    """Primaries round-robin over sorted engines; followers are the next engines on the ring.

    Followers are listed sorted, the one form every record keeps (a repair sorts them
    too), so a fresh placement is already settled and its first tick changes nothing.
    Every replica starts in sync: nothing has been written yet. O(symbols x R).

    >>> p = initial_placement(["B", "A", "C"], ["e2", "e1"], 3)
    >>> [(s, r.primary, r.followers) for s, r in sorted(p.items())]
    [('A', 'e1', ('e2',)), ('B', 'e2', ('e1',)), ('C', 'e1', ('e2',))]
    """
    ring = sorted(set(engines))
    if not ring:
        raise ValueError("no engine to place symbols on")
    r = replica_count(replication_factor, len(ring))
    placement: dict[str, SymbolRecord] = {}
    for i, symbol in enumerate(sorted(set(symbols))):
        members = tuple(ring[(i + k) % len(ring)] for k in range(r))
        placement[symbol] = SymbolRecord(
            epoch, members[0], tuple(sorted(members[1:])), tuple(sorted(members))
        )
    return placement


def _score(client_id: str, engine_id: str) -> bytes:
    return hashlib.sha256(f"{client_id}\x00{engine_id}".encode()).digest()


def assign_client(client_id: str, engines: Sequence[str]) -> str | None:
    """Rendezvous hashing: the engine with the highest hash of (client, engine).

    Stable per client while its engine lives; losing an engine moves only its clients.

    >>> assign_client("bot-1", ["a", "b", "c"]) == assign_client("bot-1", ["c", "b", "a"])
    True
    >>> assign_client("bot-1", []) is None
    True
    """
    if not engines:
        return None
    return max(engines, key=lambda engine: _score(client_id, engine))
