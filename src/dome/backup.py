"""Backup and restore of an engine's data directory: journals, epochs and snapshots.

An engine's data directory is its whole durable state (``dome.log``: per symbol, the
journal segments, ``epochs.json`` and the snapshots), so a backup is a verified copy of
it: every regular file under it, plus ``manifest.json`` naming each file with its size
and SHA-256, written last (a backup without a manifest is unfinished). ``restore`` checks
every file against the manifest before it copies anything, and only into a data
directory that is empty or absent: restoring over live journals would mix two
histories.

Take a backup of an engine that is not running (its pod scaled away, see the chart
README): files are copied one by one, and a journal appended meanwhile would be caught
mid-record.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from dome.log.durable import fsync_dir, write_atomic

MANIFEST = "manifest.json"
FORMAT = 1
_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that cannot be done as asked; nothing was changed."""


def backup(data_dir: Path, target: Path) -> dict[str, dict[str, object]]:
    """Copy ``data_dir`` into the new or empty directory ``target``; the manifest's files."""
    if not data_dir.is_dir():
        raise BackupError(f"{data_dir} is no data directory")
    _require_empty(target, "backup target")
    files = _files(data_dir)
    if not files:
        raise BackupError(f"{data_dir} holds no journal or snapshot")
    listed: dict[str, dict[str, object]] = {}
    for relative in files:
        listed[relative] = _copy(data_dir / relative, target / relative)
    _sync_dirs(target, listed)
    manifest = {"format": FORMAT, "files": listed}
    write_atomic(target / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return listed


def restore(source: Path, data_dir: Path) -> dict[str, dict[str, object]]:
    """Verify the backup in ``source`` whole, then copy it into the new or empty
    ``data_dir``; the files restored."""
    listed = verify(source)
    _require_empty(data_dir, "data directory")
    for relative in listed:
        _copy(source / relative, data_dir / relative)
    _sync_dirs(data_dir, listed)
    return listed


def verify(source: Path) -> dict[str, dict[str, object]]:
    """The manifest's files, each checked for size and SHA-256; ``BackupError`` if not."""
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(
            f"{source} has no {MANIFEST}: not a backup, or an unfinished one"
        ) from None
    except ValueError as exc:
        raise BackupError(f"{source / MANIFEST} is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{source / MANIFEST}: unknown format")
    listed: dict[str, dict[str, object]] = manifest.get("files") or {}
    for relative, expected in listed.items():
        path = source / relative
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            raise BackupError(f"{source / MANIFEST} names a path outside the backup: {relative}")
        if not path.is_file():
            raise BackupError(f"{path} is missing")
        if _digest(path) != expected.get("sha256") or path.stat().st_size != expected.get("size"):
            raise BackupError(f"{path} does not match the manifest (changed or damaged)")
    return listed


def _files(root: Path) -> list[str]:
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink()
    )


def _require_empty(directory: Path, what: str) -> None:
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise BackupError(f"the {what} {directory} is not empty")


def _copy(source: Path, target: Path) -> dict[str, object]:
    """Copy one file durably; its size and SHA-256 (of the bytes written)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as reader, target.open("xb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    shutil.copystat(source, target)
    return {"size": size, "sha256": digest.hexdigest()}


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sync_dirs(root: Path, listed: dict[str, dict[str, object]]) -> None:
    for directory in sorted({(root / relative).parent for relative in listed} | {root}):
        fsync_dir(directory)
