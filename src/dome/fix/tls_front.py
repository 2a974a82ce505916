"""FIX over TLS: a TLS-terminating front inside the gateway process.

Firms connect to an exchange's FIX port over TLS. QuickFIX can speak TLS itself, but only
when its C++ library is built with OpenSSL, and the quickfix wheel built from PyPI's
sdist is not (its SSLSocketAcceptor refuses to start: "HAVE_SSL not enabled"). So with
``--fix-tls-dir`` the gateway listens on the FIX port with Python's ``ssl`` (tls.crt and
tls.key, the layout of a ``kubernetes.io/tls`` Secret) and relays each connection's
plaintext to the QuickFIX acceptor on a loopback port that only it uses (QuickFIX then
accepts peers from 127.0.0.1 only). The session layer is untouched: logon, sequence
numbers and resends are QuickFIX's on the relayed stream, byte for byte.

The relay keeps no buffer of its own beyond one read (it waits for each write to
drain), so a slow reader slows its own sender only. A renewed certificate (cert-manager
rewrites the Secret's files) is loaded when a connection arrives after the files
changed, so renewals need no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from pathlib import Path

log = logging.getLogger("dome.fix.tls")

#: Bytes read from one side before they are written to the other.
CHUNK = 64 * 1024
#: A TLS handshake that has not finished by then is dropped (a port scan, a stuck peer).
HANDSHAKE_SECONDS = 10.0


class TlsFrontError(Exception):
    """The certificate or key cannot be used; the message names the file."""


def server_context(directory: Path) -> ssl.SSLContext:
    """A TLS 1.2+ server context from ``directory``/tls.crt and tls.key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(context, directory)
    return context


def _load(context: ssl.SSLContext, directory: Path) -> None:
    certificate, key = directory / "tls.crt", directory / "tls.key"
    try:
        context.load_cert_chain(certificate, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsFrontError(f"cannot use {certificate} and {key}: {exc}") from None


class TlsFront:
    """Accepts TLS on ``port`` and relays each connection to ``backend_port`` on loopback."""

    def __init__(self, directory: Path, backend_port: int) -> None:
        self.directory = directory
        self.backend_port = backend_port
        self.context = server_context(directory)
        self._stamp = self._files_stamp()
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port (a free one when ``port`` is 0)."""
        self._server = await asyncio.start_server(
            self._accepted,
            host,
            port,
            ssl=self.context,
            ssl_handshake_timeout=HANDSHAKE_SECONDS,
            reuse_address=True,
        )
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def close(self) -> None:
        """Stop accepting and cut every relayed connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._relays):
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        self._reload_if_renewed()
        try:
            try:
                backend_reader, backend_writer = await asyncio.open_connection(
                    "127.0.0.1", self.backend_port
                )
            except OSError as exc:
                log.warning("the FIX acceptor refused a relayed connection", extra={"error": exc})
                return
            try:
                await asyncio.gather(_pump(reader, backend_writer), _pump(backend_reader, writer))
            finally:
                await _close(backend_writer)
        finally:
            await _close(writer)
            self._relays.discard(task)

    def _files_stamp(self) -> tuple[float, float]:
        try:
            return (
                (self.directory / "tls.crt").stat().st_mtime,
                (self.directory / "tls.key").stat().st_mtime,
            )
        except OSError:
            return (0.0, 0.0)

    def _reload_if_renewed(self) -> None:
        stamp = self._files_stamp()
        if stamp == self._stamp:
            return
        try:
            _load(self.context, self.directory)  # used from the next handshake on
        except TlsFrontError as exc:
            log.warning("kept the old certificate", extra={"error": str(exc)})
            return
        self._stamp = stamp
        log.info("loaded a renewed certificate", extra={"directory": str(self.directory)})


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then half-close ``writer`` so the other side sees it."""
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        else:
            writer.close()  # TLS has no half-close: the peer sees the end of the stream
    except (ConnectionError, ssl.SSLError, OSError):
        writer.close()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
        await writer.wait_closed()
