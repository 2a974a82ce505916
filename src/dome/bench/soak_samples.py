"""What ``dome bench soak`` measures of each process, and whether it stayed bounded.

A sample is one process at one time: resident memory (``VmRSS`` of
``/proc/PID/status``), open file descriptors (entries of ``/proc/PID/fd``), CPU seconds
used so far (``utime + stime`` of ``/proc/PID/stat``) and, for an engine, the bytes of
journal segments and snapshots in its data directory. Processes are named by role
(``engine-1``, ``load-2``, ``bots``), not pid: an engine killed and restarted is the
same line on the plot, as it is the same replica to the cluster.

"Bounded" is decided per process and quantity by ``bounds`` from two windows of the
run: the reference, the second quarter (after the first quarter's warm-up), and the
last quarter. It holds when the largest value of the last quarter is at most
``factor`` times the reference's largest (``RSS_FACTOR``; ``FD_FACTOR`` plus
``FD_SLACK``; ``DISK_FACTOR``). Something growing at a steady rate from the start
would end at twice its mid-run value, so a factor of 1.5 fails it; something that grew
during warm-up and then holds passes. The justification of the factors for DOME's
engines is in ``dome.bench.soak``.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from dome.bench.engine import _cpu_seconds

RSS_FACTOR = 1.5
FD_FACTOR = 1.5
#: Open files are small counts: one reconnect of every client is a dozen more sockets.
FD_SLACK = 16
DISK_FACTOR = 1.5


@dataclass(frozen=True)
class Sample:
    """One process at one time (``t``: seconds since the load started)."""

    t: float
    process: str
    pid: int
    rss_bytes: int
    fds: int
    cpu_s: float
    #: Journal and snapshot bytes in the data directory (engines only, else -1).
    disk_bytes: int = -1


def read_process(pid: int) -> tuple[int, int, float] | None:
    """(RSS bytes, open fds, CPU seconds) of ``pid``, or None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    rss = next((int(line.split()[1]) * 1024 for line in status.splitlines()
                if line.startswith("VmRSS:")), None)  # fmt: skip
    if rss is None:
        return None  # a zombie: killed, not yet reaped
    return rss, fds, _cpu_seconds(pid)


def disk_bytes(data_dir: Path) -> int:
    """Bytes of journal segments and snapshots under ``data_dir`` (every symbol)."""
    total = 0
    for root, _, files in os.walk(data_dir):
        for name in files:
            if name.startswith(("journal-", "snapshot-")):
                with contextlib.suppress(FileNotFoundError):  # compacted as we looked
                    total += os.stat(os.path.join(root, name)).st_size
    return total


def write_csv(path: Path, samples: Iterable[Sample]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(Sample)])
        writer.writeheader()
        for sample in samples:
            writer.writerow(asdict(sample))


def bounds(samples: Sequence[Sample], duration: float) -> dict[str, Any]:
    """Per process and quantity: reference, last-quarter peak, limit, ``ok``; and ``held``.

    A quantity with no sample in either window is not evaluated, which fails ``held``:
    no evidence is no bound.
    """
    rules: dict[str, Callable[[float], float]] = {
        "rss_bytes": lambda ref: RSS_FACTOR * ref,
        "fds": lambda ref: FD_FACTOR * ref + FD_SLACK,
        "disk_bytes": lambda ref: DISK_FACTOR * ref,
    }
    out: dict[str, Any] = {}
    held = True
    for process in sorted({s.process for s in samples}):
        mine = [s for s in samples if s.process == process]
        checks: dict[str, dict[str, Any]] = {}
        for quantity, limit_of in rules.items():
            values = [(s.t, getattr(s, quantity)) for s in mine if getattr(s, quantity) >= 0]
            if quantity == "disk_bytes" and not values:
                continue  # not an engine
            ref = [v for t, v in values if duration / 4 <= t < duration / 2]
            last = [v for t, v in values if t >= 3 * duration / 4]
            if not ref or not last:
                checks[quantity] = {"evaluated": False, "ok": False}
                held = False
                continue
            limit = limit_of(max(ref))
            ok = max(last) <= limit
            held = held and ok
            checks[quantity] = {"evaluated": True, "reference": max(ref), "last": max(last),
                                "limit": round(limit), "ok": ok}  # fmt: skip
        out[process] = checks
    return {"held": held, "processes": out}


def plot(path: Path, samples: Sequence[Sample], kills: Sequence[float], title: str) -> None:
    """RSS, open files and disk over time per process, kill times marked, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display; imported here so the rest works without the extra
    import matplotlib.pyplot as plt

    panels = (("rss_bytes", "RSS (MiB)", 1 / 2**20), ("fds", "open files", 1.0),
              ("disk_bytes", "journal + snapshots (MiB)", 1 / 2**20))  # fmt: skip
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 8), sharex=True)
    processes = sorted({s.process for s in samples})
    colors = {p: f"C{i}" for i, p in enumerate(processes)}  # one colour a process throughout
    for ax, (quantity, label, scale) in zip(axes, panels, strict=True):
        for process in processes:
            # One line per incarnation: no line drawn across the time an engine was down.
            for pid in dict.fromkeys(s.pid for s in samples if s.process == process):
                points = [(s.t, getattr(s, quantity) * scale) for s in samples
                          if s.process == process and s.pid == pid
                          and getattr(s, quantity) >= 0]  # fmt: skip
                if points:
                    first = ax is axes[0] and pid == next(s.pid for s in samples
                                                          if s.process == process)  # fmt: skip
                    ax.plot(*zip(*points, strict=True), color=colors[process], linewidth=1,
                            label=process if first else None)  # fmt: skip
        for at in kills:
            ax.axvline(at, color="red", linestyle=":", linewidth=1)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=4, loc="upper left")
    axes[0].set_title(title, fontsize=9)
    axes[-1].set_xlabel("seconds (red: an engine killed with SIGKILL)")
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
