"""`make native` rebuilds the native core whenever any of its Rust sources changes.

The build is skipped while its stamp is newer than every file in the Makefile's
``NATIVE_SOURCES``, so a Rust file missing from that list (a new module folder, say) is
edited, tested through Python against the stale build, and reported as passing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def make_variable(name: str) -> list[str]:
    """The words of a Makefile variable, as make expands it."""
    rule = f"print-{name}: ; @echo $({name})"
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "--eval", rule, f"print-{name}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


@pytest.mark.skipif(shutil.which("make") is None, reason="no make here")
def test_every_rust_source_is_a_prerequisite_of_the_native_build() -> None:
    listed = set(make_variable("NATIVE_SOURCES"))
    rust = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "native" / "src").rglob("*.rs"))
    assert len(rust) > 10, rust
    assert [p for p in rust if p not in listed] == []
