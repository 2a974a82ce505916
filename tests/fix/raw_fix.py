"""A bare FIX 4.4 peer over a socket, for what no FIX engine would send.

Garbled bytes, a wrong checksum, a sequence number too low or a duplicate with
PossDupFlag: the session-layer cases a well-behaved engine (QuickFIX/J) refuses to
produce. It frames messages (BodyLength, CheckSum) unless told not to, and reads what
comes back split into messages.
"""

from __future__ import annotations

import socket
import ssl
import time
from datetime import UTC, datetime

from dome.fix.application import LOGON_TIMEOUT_S

SOH = "\x01"


def frame(body: str, *, checksum: int | None = None) -> bytes:
    """``8=FIX.4.4|9=len|body|10=sum|`` from a body of SOH-ended tag=value pairs."""
    head = f"8=FIX.4.4{SOH}9={len(body.encode())}{SOH}"
    total = sum((head + body).encode()) % 256 if checksum is None else checksum
    return f"{head}{body}10={total:03d}{SOH}".encode()


def now() -> str:
    return datetime.now(tz=UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


class RawPeer:
    """One TCP connection speaking FIX by hand as ``sender``."""

    def __init__(
        self, port: int, sender: str, target: str = "DOME", *, tls: ssl.SSLContext | None = None
    ) -> None:
        """``tls``: speak FIX over TLS, verifying the gateway with this context."""
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = raw if tls is None else tls.wrap_socket(raw, server_hostname="localhost")
        self.sender, self.target = sender, target
        self.seq = 1
        self._buffer = b""
        self.messages: list[dict[int, str]] = []

    def body(self, msg_type: str, *pairs: str, seq: int | None = None, header: str = "") -> str:
        number = self.seq if seq is None else seq
        if seq is None:
            self.seq += 1
        fields = [
            f"35={msg_type}",
            f"34={number}",
            f"49={self.sender}",
            f"52={now()}",
            f"56={self.target}",
            *([header] if header else []),
            *pairs,
        ]
        return "".join(f + SOH for f in fields)

    def send(self, msg_type: str, *pairs: str, seq: int | None = None, header: str = "") -> None:
        self.sock.sendall(frame(self.body(msg_type, *pairs, seq=seq, header=header)))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def logon(self, password: str) -> dict[int, str]:
        self.send("A", "98=0", "108=30", "141=Y", f"554={password}")
        # The gateway answers a Logon within its own bound: it gives the account's desk
        # (connect, instruments, the report stream) LOGON_TIMEOUT_S to open, then answers
        # Logout "exchange unavailable". Waiting less than that races a loaded machine.
        within = LOGON_TIMEOUT_S + 10
        return self.wait(lambda m: m.get(35) in ("A", "5"), "the Logon answer", within)

    def closed(self, timeout: float = 10.0) -> bool:
        """Whether the gateway closes the connection within ``timeout`` (reading on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._fill(deadline - time.monotonic()):
                return True
        return False

    def _fill(self, timeout: float) -> bool:
        """Read what arrives within ``timeout``; False once the peer closed."""
        self.sock.settimeout(max(timeout, 0.01))
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return True
        except OSError:
            return False
        if not chunk:
            return False
        self._buffer += chunk
        while (end := self._buffer.find(b"\x0110=")) >= 0:
            stop = self._buffer.find(b"\x01", end + 4)
            if stop < 0:
                break
            raw, self._buffer = self._buffer[: stop + 1], self._buffer[stop + 1 :]
            fields: dict[int, str] = {}
            for pair in raw.decode(errors="replace").split(SOH):
                tag, _, value = pair.partition("=")
                if tag.isdigit():
                    fields.setdefault(int(tag), value)
            self.messages.append(fields)
        return True

    def wait(self, match: object, what: str, timeout: float = 10.0) -> dict[int, str]:
        """The first message received (from the start) that ``match(message)`` accepts."""
        assert callable(match)
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages:
                if match(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; got {self.messages}")
            if not self._fill(left):
                for message in self.messages:
                    if match(message):
                        return message
                raise AssertionError(f"connection closed waiting for {what}; got {self.messages}")

    def close(self) -> None:
        self.sock.close()
