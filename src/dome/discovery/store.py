"""Where epochs live: a per-symbol record store with compare-and-set.

Discovery persists every epoch before publishing it, and a write names the version it
read, so two discovery processes (a rollout, a split brain) can never both move a
symbol to the same epoch: the second write fails with ``StoreConflict`` and its writer
adopts what the store holds. ``MemoryStore`` is the reference for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dome.discovery.records import SymbolRecord, Versioned


class StoreError(Exception):
    """The store could not be read or written (unreachable, malformed, refused)."""


class StoreConflict(StoreError):
    """A compare-and-set lost: the record is not at the expected version any more."""


class PlacementStore(Protocol):
    """Symbol records with versions; every write is a compare-and-set."""

    async def load(self, symbols: Sequence[str]) -> dict[str, Versioned]:
        """The stored records of ``symbols`` (absent ones are left out)."""
        ...

    async def put(self, symbol: str, record: SymbolRecord, expected: str | None) -> str:
        """Write ``record`` if the stored version is ``expected`` (None: absent).

        Returns the new version; raises ``StoreConflict`` when the version differs.
        """
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...


class MemoryStore:
    """A store in a dict: what the others must behave like, for tests."""

    def __init__(self) -> None:
        self.records: dict[str, Versioned] = {}
        self._counter = 0

    async def load(self, symbols: Sequence[str]) -> dict[str, Versioned]:
        return {s: self.records[s] for s in symbols if s in self.records}

    async def put(self, symbol: str, record: SymbolRecord, expected: str | None) -> str:
        current = self.records.get(symbol)
        if (current.version if current is not None else None) != expected:
            raise StoreConflict(f"{symbol}: expected version {expected}")
        self._counter += 1
        version = str(self._counter)
        self.records[symbol] = Versioned(record, version)
        return version

    async def close(self) -> None:
        return None
