"""``dome backup`` and ``dome restore``: an engine's data directory to a directory and back.

Exit codes: 0 done; 1 the backup or restore could not be done (the message says why and
nothing was changed: a non-empty target, a file that does not match the manifest); 2
usage errors. See ``dome.backup`` and the chart README's procedure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add ``dome backup`` and ``dome restore`` to the ``dome`` parser."""
    p = sub.add_parser(
        "backup",
        help="copy a stopped engine's data directory (journals, snapshots) with a manifest",
        description="Copy every file of an engine's data directory into TARGET (new or "
        "empty) and write TARGET/manifest.json with each file's size and SHA-256.",
    )
    p.add_argument("--data-dir", type=Path, required=True, help="the engine's data directory")
    p.add_argument("--to", type=Path, required=True, help="the backup directory (new or empty)")
    p.set_defaults(func=run_backup)
    r = sub.add_parser(
        "restore",
        help="check a backup against its manifest and copy it into an empty data directory",
        description="Verify every file of the backup in SOURCE against its manifest, then "
        "copy it into DATA_DIR, which must be new or empty.",
    )
    r.add_argument("--from", dest="source", type=Path, required=True, help="the backup")
    r.add_argument("--data-dir", type=Path, required=True, help="the engine's data directory")
    r.set_defaults(func=run_restore)


def run_backup(args: argparse.Namespace) -> int:
    from dome.backup import BackupError, backup

    try:
        files = backup(args.data_dir, args.to)
    except (BackupError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"backup": str(args.to), "files": len(files)}))
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from dome.backup import BackupError, restore

    try:
        files = restore(args.source, args.data_dir)
    except (BackupError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"restored": str(args.data_dir), "files": len(files)}))
    return 0
