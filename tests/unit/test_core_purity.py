"""The book core stays pure: standard library computation and sortedcontainers only.

This is the import-linter contract of STYLE.md written as a test: a book must be a pure
function of its commands (DESIGN.md section 2), so no module under ``dome.core`` may
import a clock, randomness, I/O, concurrency, logging or any other part of ``dome``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "src" / "dome" / "core"
FORBIDDEN = {
    "asyncio", "datetime", "grpc", "io", "logging", "multiprocessing", "os", "pathlib",
    "random", "secrets", "select", "selectors", "shutil", "signal", "socket", "subprocess",
    "sys", "tempfile", "threading", "time", "uuid",
}  # fmt: skip
ALLOWED_THIRD_PARTY = {"sortedcontainers"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_only_pure_modules(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "dome":
            assert name.startswith("dome.core"), f"{path.name} reaches out of the core: {name}"
        elif top == "__future__":
            continue
        else:
            assert top not in FORBIDDEN, f"{path.name} imports {name}: the core must stay pure"
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                f"{path.name} imports third-party {name}"
            )


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom dome.engine import server\n")
    assert _imports(bad) == {"time", "dome.engine"}
