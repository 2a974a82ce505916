"""The FIX gateway as a real process for tests: started, awaited, stopped, killed, restarted.

It runs ``python -m dome.fix`` (the same code as ``dome fix``) on a free port with a ready
file, against one engine (``target``) or a cluster (``discovery``). A restart keeps the
port and the data directory, as an operator restarting it would.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from dome.stacks import DUMP_SIGNAL
from processes import stop_process
from waiting import wait_for


@dataclass
class Gateway:
    """A gateway process and what it announced."""

    directory: Path
    accounts: Path
    target: str | None = None
    discovery: str | None = None
    port: int = 0
    #: More ``dome fix`` arguments (``--fix-tls-dir DIR``).
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    info: dict[str, object] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "gateway.log"

    def start(self, timeout: float = 60.0) -> None:
        ready = self.directory / "ready.json"
        ready.unlink(missing_ok=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        exchange = (
            ["--target", self.target] if self.target else ["--discovery", str(self.discovery)]
        )
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dome.fix",
                    *exchange,
                    "--accounts",
                    str(self.accounts),
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    "--ready-file",
                    str(ready),
                    "--log-level",
                    "info",
                    *self.extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def announced() -> dict[str, object] | None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"the gateway exited {self.proc.returncode}:\n{self.log()}")
            try:
                return dict(json.loads(ready.read_text()))
            except (OSError, ValueError):
                return None

        self.info = wait_for(announced, timeout, "the gateway's ready file")
        self.port = int(str(self.info["address"]).rsplit(":", 1)[1])

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        return stop_process(self.proc, sig, 20)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (no Logout, no final writes)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except FileNotFoundError:
            return ""

    def stacks(self) -> str:
        """The gateway's log, then every thread's stack as it prints them on SIGUSR1."""
        if not self.alive():
            return f"the gateway has exited ({self.proc and self.proc.returncode}):\n{self.log()}"
        assert self.proc is not None
        before = self.log_path.stat().st_size
        self.proc.send_signal(DUMP_SIGNAL)
        try:
            wait_for(
                lambda: b"most recent call first" in self.log_path.read_bytes()[before:],
                10,
                "the gateway's thread stacks",
            )
        except AssertionError as exc:
            return f"{self.log()}\n{exc}"
        written = self.log_path.read_bytes()
        log_tail = written[:before][-8000:].decode(errors="replace")
        return f"{log_tail}\n--- thread stacks ---\n{written[before:].decode(errors='replace')}"

    def metric(self, name: str, **labels: str) -> float:
        """One sample of the gateway's metrics page (0 if absent).

        A page that does not come within the timeout fails with the gateway's thread
        stacks (``dome.stacks``) and log: which thread kept the page's thread from the GIL.
        """
        try:
            with urllib.request.urlopen(str(self.info["metrics"]), timeout=5) as page:
                text = page.read().decode()
        except (TimeoutError, urllib.error.URLError) as exc:
            raise AssertionError(
                f"the gateway's metrics page did not answer: {exc!r}\n{self.stacks()}"
            ) from exc
        for line in text.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            if head.split("{", 1)[0] != name:
                continue
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                return float(value)
        return 0.0
