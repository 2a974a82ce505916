"""Helpers for the SDK and CLI tests: waiting on conditions, running the ``dome`` command.

Tests wait on what they need to see, with a deadline, never on a fixed sleep; the CLI is
run as a real subprocess because its exit codes and output are the contract under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import waiting


async def eventually(check: Callable[[], object], what: str, *, within: float = 5.0) -> None:
    """``waiting.eventually`` with this folder's argument order."""
    await waiting.eventually(check, within, what)


def dome(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``dome ARGS`` (as ``python -m dome.cli``) and capture its output."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DOME_TARGET", "DOME_TOKEN")}
    return subprocess.run(
        [sys.executable, "-m", "dome.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**clean, **(env or {})},
        check=False,
    )


def dome_json(*args: str, **kw: Any) -> Any:
    """Run ``dome ARGS --json``, require exit 0, and parse the one JSON line it printed."""
    done = dome(*args, "--json", **kw)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
