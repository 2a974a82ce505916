"""Writing the small JSON files processes hand each other (ready files, cluster.json, tokens).

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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(value, indent=indent) + "\n")
    os.replace(tmp, path)
