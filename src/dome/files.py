"""Writing the small files processes hand each other (ready files, cluster.json, tokens, secrets).

Written atomically (a reader polling for the file never sees half of it) and, for files
holding tokens, created owner-only from the first byte rather than narrowed afterwards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json(path: Path, value: Any, *, private: bool = False, indent: int | None = 2) -> None:
    """Write ``value`` as JSON to ``path`` atomically; ``private`` means mode 0600."""
    write_text(path, json.dumps(value, indent=indent) + "\n", private=private)


def write_text(path: Path, text: str, *, private: bool = False) -> None:
    """Write ``text`` to ``path`` atomically; ``private`` means mode 0600 (a secret)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
