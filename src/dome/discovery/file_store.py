"""The local store: one JSON file, rewritten atomically under an exclusive lock.

Each write takes an ``fcntl`` lock on a sibling ``.lock`` file, re-reads the file,
compares the symbol's version, writes a temporary file, fsyncs it, renames it over the
old one and fsyncs the directory. So two discovery processes sharing a data directory
cannot both win a compare-and-set, and a crash leaves either the old file or the new
one, never half of either. Calls run in a thread: fsync takes milliseconds.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from dome.discovery.records import SymbolRecord, Versioned
from dome.discovery.store import StoreConflict, StoreError

#: The file's name in ``--data-dir`` by default.
DEFAULT_NAME = "discovery-placement.json"


class FileStore:
    """A ``PlacementStore`` in one JSON file: ``{"symbols": {S: {..., "version": N}}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(f".{path.name}.lock")

    async def load(self, symbols: Sequence[str]) -> dict[str, Versioned]:
        return await asyncio.to_thread(self._load, list(symbols))

    async def put(self, symbol: str, record: SymbolRecord, expected: str | None) -> str:
        return await asyncio.to_thread(self._put, symbol, record, expected)

    async def close(self) -> None:
        return None

    def _load(self, symbols: list[str]) -> dict[str, Versioned]:
        with self._locked():
            stored = self._read()
        return {s: stored[s] for s in symbols if s in stored}

    def _put(self, symbol: str, record: SymbolRecord, expected: str | None) -> str:
        with self._locked():
            stored = self._read()
            current = stored.get(symbol)
            if (current.version if current is not None else None) != expected:
                raise StoreConflict(
                    f"{symbol}: stored version {current.version if current else None}, "
                    f"expected {expected}"
                )
            version = str(int(current.version) + 1 if current is not None else 1)
            stored[symbol] = Versioned(record, version)
            self._write(stored)
        return version

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot lock {self._lock_path}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> dict[str, Versioned]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from None
        try:
            return {
                symbol: Versioned(SymbolRecord.from_json(item), str(int(item["version"])))
                for symbol, item in raw["symbols"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreError(f"{self.path} is not a placement file: {exc}") from None

    def _write(self, stored: dict[str, Versioned]) -> None:
        doc = {
            "symbols": {
                symbol: {**v.record.to_json(), "version": int(v.version)}
                for symbol, v in sorted(stored.items())
            }
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("w") as out:
                out.write(json.dumps(doc, indent=2) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc}") from None
