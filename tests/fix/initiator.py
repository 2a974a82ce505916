"""The independent FIX engine of the FIX tests: QuickFIX/J as a real initiator process.

``Initiator`` starts ``tests/fix/initiator`` (Java, QuickFIX/J 2.3, built by Maven) for one
session, writes commands to its stdin and collects every line it reports (``IN`` and
``OUT`` messages, ``LOGON``, ``LOGOUT``). Tests wait on what they expect with a deadline.
QuickFIX/J validates every message the gateway sends against its own FIX 4.4 dictionary
and answers an invalid one with a Reject, so ``rejects_sent`` being empty is a check too.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from processes import stop_process

HERE = Path(__file__).parent / "initiator"
CLASSPATH_FILE = HERE / "target" / "classpath.txt"
CLASSES = HERE / "target" / "classes"
SOURCES = [HERE / "pom.xml", *sorted((HERE / "src").rglob("*.java"))]


def build_reason() -> str | None:
    """Why the initiator cannot be used here (None when it is built or was just built)."""
    import shutil

    if not (shutil.which("java") and shutil.which("mvn")):
        return "needs java and mvn for the QuickFIX/J initiator"
    newest = max(p.stat().st_mtime for p in SOURCES)
    if CLASSPATH_FILE.exists() and CLASSPATH_FILE.stat().st_mtime >= newest:
        return None
    done = subprocess.run(
        ["mvn", "-q", "-B", "-Dstyle.color=never", "package"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise AssertionError(f"building the initiator failed:\n{done.stdout}\n{done.stderr}")
    CLASSPATH_FILE.touch()
    return None


@dataclass(frozen=True)
class Fix:
    """One message as the initiator reported it: its tags (first value of each)."""

    raw: str

    @property
    def fields(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for pair in self.raw.split("|"):
            tag, _, value = pair.partition("=")
            if tag.isdigit():
                out.setdefault(int(tag), value)
        return out

    def __getitem__(self, tag: int) -> str:
        return self.fields[tag]

    def get(self, tag: int, default: str = "") -> str:
        return self.fields.get(tag, default)

    def all(self, tag: int) -> list[str]:
        """Every value of ``tag`` (repeating groups), in order."""
        return [v for t, _, v in (p.partition("=") for p in self.raw.split("|")) if t == str(tag)]

    @property
    def msg_type(self) -> str:
        return self.fields.get(35, "")


def session_config(
    directory: Path,
    *,
    sender: str,
    port: int,
    password: str | None,
    target: str = "DOME",
    heartbeat: int = 30,
    extra: dict[str, str] | None = None,
) -> Path:
    """A QuickFIX/J settings file for one initiator session in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        "[DEFAULT]",
        "ConnectionType=initiator",
        "ReconnectInterval=1",
        f"FileStorePath={directory / 'store'}",
        f"FileLogPath={directory / 'log'}",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "NonStopSession=Y",
        f"HeartBtInt={heartbeat}",
        "UseDataDictionary=Y",
        "DataDictionary=FIX44.xml",
        "SocketConnectHost=127.0.0.1",
        f"SocketConnectPort={port}",
        *(f"{k}={v}" for k, v in (extra or {}).items()),
        "",
        "[SESSION]",
        "BeginString=FIX.4.4",
        f"SenderCompID={sender}",
        f"TargetCompID={target}",
    ]
    if password is not None:
        lines.append(f"Password={password}")
    path = directory / "initiator.cfg"
    path.write_text("\n".join(lines) + "\n")
    return path


class Initiator:
    """A running QuickFIX/J initiator, driven line by line."""

    def __init__(self, config: Path) -> None:
        classpath = f"{CLASSPATH_FILE.read_text().strip()}{os.pathsep}{CLASSES}"
        self.config = config
        self.proc = subprocess.Popen(
            ["java", "-cp", classpath, "dome.fixtest.ScriptedInitiator", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="ascii",
            errors="replace",
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_line(lambda line: line == "READY", 30, "the initiator to start")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append("EOF")
            self._cond.notify_all()

    # ---------------------------------------------------------------- commands

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def send(self, *pairs: str) -> None:
        """Send a message: ``send("35=D", "11=o1", ...)``; the session fills the header."""
        self.command("send " + "|".join(pairs))

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command("quit")
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                stop_process(self.proc, grace=5)
        self._reader.join(timeout=5)

    # ----------------------------------------------------------------- reading

    def wait_line(self, match: Callable[[str], bool], timeout: float, what: str) -> str:
        """The first reported line (from the start) that ``match``es; fail at the deadline."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if match(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or "EOF" in self.lines:
                    tail = "\n".join(self.lines[-30:])
                    raise AssertionError(f"timed out waiting for {what}; last lines:\n{tail}")
                self._cond.wait(left)

    def received(self, msg_type: str | None = None) -> list[Fix]:
        """Messages received so far (of one MsgType if given), oldest first."""
        with self._cond:
            lines = list(self.lines)
        out = [Fix(line[3:]) for line in lines if line.startswith("IN ")]
        return [m for m in out if msg_type is None or m.msg_type == msg_type]

    def sent(self, msg_type: str | None = None) -> list[Fix]:
        with self._cond:
            lines = list(self.lines)
        out = [Fix(line[4:]) for line in lines if line.startswith("OUT ")]
        return [m for m in out if msg_type is None or m.msg_type == msg_type]

    def wait_for(
        self,
        match: Callable[[Fix], bool],
        timeout: float = 15.0,
        what: str = "a message",
        count: int = 1,
    ) -> list[Fix]:
        """Wait until ``count`` received messages ``match``; returns them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self.received() if match(m)]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0 or "EOF" in self.lines:
                    tail = "\n".join(self.lines[-30:])
                    raise AssertionError(
                        f"timed out waiting for {count} x {what} (got {len(got)}); last lines:\n"
                        f"{tail}"
                    )
                self._cond.wait(min(left, 0.5))

    def wait_logon(self, timeout: float = 20.0) -> None:
        self.wait_line(lambda line: line.startswith("LOGON"), timeout, "logon")

    def reports(self, cl_ord_id: str | None = None) -> list[Fix]:
        """ExecutionReports received (for one ClOrdID if given)."""
        return [m for m in self.received("8") if cl_ord_id is None or m.get(11) == cl_ord_id]

    def rejects_sent(self) -> list[Fix]:
        """Session Rejects this initiator sent: the gateway sent something invalid."""
        return self.sent("3")

    def __enter__(self) -> Initiator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: The ``connect`` fixture: ``connect("alice")`` -> a logged-on initiator.
Connect = Callable[..., Initiator]
