"""Atomic JSON files: complete or absent, and token files owner-only from the start."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from dome.files import write_json


def test_write_is_complete_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cluster.json"
    write_json(path, {"processes": [1, 2]})
    write_json(path, {"processes": [3]})
    assert json.loads(path.read_text()) == {"processes": [3]}
    assert [p.name for p in path.parent.iterdir()] == ["cluster.json"]


def test_private_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    write_json(path, {"alice": "t"}, private=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Rewriting keeps it private: the new file is created 0600 before a byte is written.
    write_json(path, {"alice": "t2"}, private=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
