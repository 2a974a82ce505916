"""docs/architecture.md matches the tree: every file and folder it names exists.

The map is only useful while it is true; a rename or a move that forgets it fails here,
naming the path.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
#: Backticked paths: with a folder separator or a known suffix.
_PATH = re.compile(r"`([A-Za-z0-9_./-]+(?:/|\.py|\.md|\.rs|\.proto))`")
#: Bare module names the doc uses for files beside the one named just before.
_ENGINE = ROOT / "src" / "dome" / "engine"


def named_paths(text: str) -> list[str]:
    """The paths ``text`` names in backticks (folders end in ``/``)."""
    return sorted(set(_PATH.findall(text)))


def _exists(name: str) -> bool:
    # A bare file name (`sequencer.py`) is the engine's, where the doc walks its stages,
    # or the log's / discovery's / the SDK's beside them.
    if "/" not in name.rstrip("/") and not name.endswith("/"):
        return any(
            (base / name).exists()
            for base in (
                _ENGINE,
                ROOT / "src" / "dome" / "log",
                ROOT / "src" / "dome" / "discovery",
                ROOT / "src" / "dome" / "client",
                ROOT / "docs",
            )
        )
    return (ROOT / name).exists()


def test_every_path_in_the_architecture_doc_exists() -> None:
    paths = named_paths(DOC.read_text())
    assert len(paths) > 20, f"the doc names only {paths}"
    missing = [p for p in paths if not _exists(p)]
    assert missing == []


def test_the_check_sees_a_missing_path() -> None:
    assert named_paths("see `src/dome/nowhere.py` and `node.py`") == [
        "node.py",
        "src/dome/nowhere.py",
    ]
    assert not _exists("src/dome/nowhere.py")
    assert _exists("node.py")
