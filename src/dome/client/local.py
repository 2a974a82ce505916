"""Find an exchange that ``dome up`` runs on this machine, from its cluster file.

``local_discovery`` is what a client should use (``Client.local``): through discovery it
follows each symbol's primary across failovers, where ``local_target``'s first engine
may die and come back on another port.
"""

from __future__ import annotations

import json
from pathlib import Path

#: Where ``dome up`` writes its state by default.
DEFAULT_DATA_DIR = Path(".dome")


class NoLocalExchange(LookupError):
    """There is no usable cluster file: nothing runs here, or the file names no engine."""


def local_target(data_dir: str | Path = DEFAULT_DATA_DIR) -> str:
    """``HOST:PORT`` of the first engine in ``DATA_DIR/cluster.json``."""
    cluster = Path(data_dir) / "cluster.json"
    try:
        processes = json.loads(cluster.read_text())["processes"]
        return str(next(p["address"] for p in processes if p["role"] == "engine"))
    except FileNotFoundError:
        raise NoLocalExchange(f"no {cluster}: start one with `dome up`") from None
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        raise NoLocalExchange(f"{cluster} names no engine") from None


def local_discovery(data_dir: str | Path = DEFAULT_DATA_DIR) -> str | None:
    """``HOST:PORT`` of discovery in ``DATA_DIR/cluster.json``; None if it names none.

    ``NoLocalExchange`` if there is no cluster file at all.
    """
    cluster = Path(data_dir) / "cluster.json"
    try:
        processes = json.loads(cluster.read_text())["processes"]
    except FileNotFoundError:
        raise NoLocalExchange(f"no {cluster}: start one with `dome up`") from None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        return next(str(p["address"]) for p in processes if p.get("role") == "discovery")
    except (StopIteration, KeyError, TypeError, AttributeError):
        return None
