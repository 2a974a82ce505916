"""docs/architecture.md matches the tree: every file and folder it names exists.

The map is only useful while it is true; a rename or a move that forgets it fails here,
naming the path. Paths are named four ways: backticked paths, backticked globs
(``tests/unit/core/test_contract_*.py``, at least one file each), dotted module names
(``dome.cores``) and Markdown links to the other docs.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
#: Backticked paths: with a folder separator or a known suffix.
_PATH = re.compile(r"`([A-Za-z0-9_./-]+(?:/|\.py|\.md|\.rs|\.proto))`")
#: Backticked globs: a path with a ``*`` in it.
_GLOB = re.compile(r"`([A-Za-z0-9_./-]*\*[A-Za-z0-9_.*/-]*)`")
#: Backticked dotted module names of the package.
_MODULE = re.compile(r"`(dome(?:\.[a-z0-9_]+)*)`")
#: Markdown link targets (relative to docs/), anchors dropped.
_LINK = re.compile(r"\]\(([^)#:]+)(?:#[^)]*)?\)")
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


def _module_exists(name: str) -> bool:
    path = ROOT / "src" / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def missing_names(text: str, docs: Path) -> list[str]:
    """What ``text`` (a doc in ``docs``) names by glob, module or link that does not exist."""
    missing = [g for g in sorted(set(_GLOB.findall(text))) if not any(ROOT.glob(g))]
    missing += [m for m in sorted(set(_MODULE.findall(text))) if not _module_exists(m)]
    missing += [a for a in sorted(set(_LINK.findall(text))) if not (docs / a).exists()]
    return missing


def test_every_path_in_the_architecture_doc_exists() -> None:
    paths = named_paths(DOC.read_text())
    assert len(paths) > 20, f"the doc names only {paths}"
    missing = [p for p in paths if not _exists(p)]
    assert missing == []


def test_every_glob_module_and_link_in_the_architecture_doc_exists() -> None:
    text = DOC.read_text()
    assert _GLOB.findall(text)
    assert _MODULE.findall(text)
    assert _LINK.findall(text)
    assert missing_names(text, DOC.parent) == []


def test_the_check_sees_a_missing_path() -> None:
    assert named_paths("see `src/dome/nowhere.py` and `node.py`") == [
        "node.py",
        "src/dome/nowhere.py",
    ]
    assert not _exists("src/dome/nowhere.py")
    assert _exists("node.py")


def test_the_check_sees_a_missing_glob_module_or_link() -> None:
    text = (
        "`tests/unit/core/test_contract_*.py` `tests/unit/core/test_nothing_*.py` "
        "`dome.cores` `dome.client` `dome.nowhere` [book](book.md) [gone](gone.md#top)"
    )
    assert missing_names(text, DOC.parent) == [
        "tests/unit/core/test_nothing_*.py",
        "dome.nowhere",
        "gone.md",
    ]
