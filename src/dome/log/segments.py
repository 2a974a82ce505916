"""A journal directory's layout: segment files named by their first seq, and the epochs file.

``data_dir/<symbol>/`` holds ``journal-<first seq, 20 digits>.log`` segment files and
``epochs.json``, the epoch history of segments compacted away. Both the scan on open
(``journal_scan``) and the writer (``journal``) use these names and the in-memory index
of each segment, so they live here, below both.
"""

from __future__ import annotations

import json
import re
from array import array
from pathlib import Path

from dome.log.durable import write_atomic
from dome.log.errors import JournalError

SEGMENT_NAME = re.compile(r"journal-(\d{20})\.log")
EPOCHS_FILE = "epochs.json"


class Segment:
    """One file's index: the first seq and byte offset of every record in it."""

    __slots__ = ("base", "offsets", "path", "size", "starts")

    def __init__(self, path: Path, base: int) -> None:
        self.path = path
        #: First seq this segment holds (or will hold, while empty).
        self.base = base
        self.starts = array("Q")
        self.offsets = array("Q")
        #: Bytes of good records.
        self.size = 0


def segment_path(directory: Path, base: int) -> Path:
    """Name of the segment whose first record starts at ``base``."""
    return directory / f"journal-{base:020d}.log"


def read_epochs_file(directory: Path) -> list[tuple[int, int]]:
    """The (epoch, first seq) history ``epochs.json`` keeps; empty if there is none."""
    path = directory / EPOCHS_FILE
    try:
        raw = json.loads(path.read_text())
        return [(int(e), int(s)) for e, s in raw["epochs"]]
    except FileNotFoundError:
        return []
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalError(f"{path} is unreadable: {exc}") from None


def write_epochs_file(directory: Path, epochs: list[tuple[int, int]]) -> None:
    """Replace ``epochs.json`` atomically with ``epochs``."""
    body = json.dumps({"version": 1, "epochs": epochs}, separators=(",", ":"))
    write_atomic(directory / EPOCHS_FILE, body.encode())
