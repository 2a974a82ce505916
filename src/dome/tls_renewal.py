"""TLS files that follow their directory while the process runs: renewal without a restart.

On Kubernetes the TLS directory is a Secret volume that cert-manager renews: the kubelet
swaps the files in place (an atomic flip of the ``..data`` link) while the pod keeps
running. Reading them once at start-up meant a renewal needed a restart, which on an
engine that leads symbols costs a failover. ``TlsSource`` looks at the files' bytes every
``POLL_SECONDS`` (like ``dome.engine.accounts_watch``), checks a changed set with
Python's ``ssl`` (the certificate must parse and match the key, the CA must parse), and
hands it on:

- to the servers, through grpc's ``dynamic_ssl_server_credentials``: grpc asks the
  fetcher before every new connection's handshake, so new connections get the renewed
  certificate, connections already open keep theirs (TLS checks certificates only at
  the handshake);
- to outbound channels, through ``generation``: whoever caches channels
  (``dome.engine.peers.Peers``, the discovery agent) opens a fresh one with the renewed
  files for calls made after the change, and leaves open streams alone rather than cut
  replication or forwarded orders in flight; the old channels close with their owner.

A set that is not usable (a missing file, garbage PEM, a key of another certificate, or
a ``ca.crt`` that appeared or vanished, which would switch mutual TLS on or off) keeps the
files in force, with one structured error per unusable content: an exchange with an
expiring certificate beats an exchange that cannot accept a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from dome.tls import TlsFiles, TlsFilesError

log = logging.getLogger("dome.tls")

#: Seconds between two looks at the directory: three small reads and a hash.
POLL_SECONDS = 2.0
FILES = ("tls.crt", "tls.key", "ca.crt")


def _read(directory: Path) -> dict[str, bytes | None]:
    """The bytes of each file (None: absent); ``TlsFilesError`` if one cannot be read."""
    found: dict[str, bytes | None] = {}
    for name in FILES:
        try:
            found[name] = (directory / name).read_bytes()
        except FileNotFoundError:
            found[name] = None
        except OSError as exc:
            raise TlsFilesError(f"cannot read {directory / name}: {exc.strerror}") from None
    return found


def _digest(contents: dict[str, bytes | None]) -> bytes:
    hasher = hashlib.sha256()
    for name in FILES:
        data = contents[name]
        hasher.update(b"-" if data is None else b"+%d:" % len(data) + data)
    return hasher.digest()


class TlsFilesChanging(TlsFilesError):
    """The files changed while they were being read: a swap in progress."""


def validate(directory: Path) -> TlsFiles:
    """The files of ``directory`` once ``ssl`` accepts them; ``TlsFilesError`` otherwise.

    ``TlsFiles.from_dir`` only checks that each file looks like PEM; a renewed set must
    really work, or every new connection would fail its handshake. The files are read,
    checked by path, and read again: a set that changed in between (a swap in progress)
    is refused, to be looked at again on the next poll.
    """
    files = TlsFiles.from_dir(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(directory / "tls.crt", directory / "tls.key")
        if files.ca is not None:
            context.load_verify_locations(cadata=files.ca.decode("ascii"))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise TlsFilesError(f"{directory}: {exc}") from None
    if TlsFiles.from_dir(directory) != files:
        raise TlsFilesChanging(f"{directory} changed while it was being read")
    return files


class TlsSource:
    """The TLS files in force for ``directory``, replaced when a usable renewal appears.

    Construction reads and validates the directory (``TlsFilesError`` if unusable: a
    process does not start without certificates it can serve).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.files = validate(self.directory)
        #: Bumped at every replacement; channel owners compare it with their channel's.
        self.generation = 0
        self._seen = _digest(_read(self.directory))
        self._lock = threading.Lock()  # the fetcher runs on grpc's threads

    def check(self) -> None:
        """One look at the directory: put renewed files in force if they are usable."""
        try:
            contents = _read(self.directory)
        except TlsFilesError as exc:
            # Mid-swap or unreadable for a moment: keep what is in force, look again.
            log.debug(
                "TLS files unreadable",
                extra={"directory": str(self.directory), "error": str(exc)},
            )
            return
        digest = _digest(contents)
        if digest == self._seen:
            return
        try:
            files = validate(self.directory)
            if (files.ca is None) != (self.files.ca is None):
                raise TlsFilesError(
                    f"{self.directory}: ca.crt {'vanished' if files.ca is None else 'appeared'}"
                    "; mutual TLS cannot be switched while serving (restart to do that)"
                )
        except TlsFilesChanging:
            return  # not marked seen: the next look reads the settled set
        except TlsFilesError as exc:
            self._seen = digest  # complain once per unusable content
            log.error(
                "TLS files changed but are unusable; the certificates in force stay",
                extra={"directory": str(self.directory), "error": str(exc)},
            )
            return
        self._seen = digest
        if files == self.files:
            return
        with self._lock:
            self.files = files
            self.generation += 1
        log.info(
            "TLS certificates reloaded",
            extra={"directory": str(self.directory), "generation": self.generation},
        )

    async def run(self, interval: float = POLL_SECONDS) -> None:
        """``check`` every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            # Off the event loop: a few reads and an ssl context (a millisecond or so).
            await asyncio.to_thread(self.check)

    def server_credentials(self) -> grpc.ServerCredentials:
        """Serve TLS with the files in force at each new connection's handshake.

        One credentials object per port: grpc keeps the current certificate per object,
        so each fetcher remembers which generation it last handed over.
        """
        delivered = self.generation

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            nonlocal delivered
            with self._lock:
                if self.generation == delivered:
                    return None  # grpc keeps the configuration it has
                delivered = self.generation
                files = self.files
            return _configuration(files)

        return grpc.dynamic_ssl_server_credentials(
            _configuration(self.files),
            # grpc-stubs omit the None that grpc documents as "keep the configuration".
            fetch,  # type: ignore[arg-type]
            require_client_authentication=self.files.ca is not None,
        )


def _configuration(files: TlsFiles) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(files.private_key, files.certificate)], root_certificates=files.ca
    )


@contextlib.asynccontextmanager
async def following(source: TlsSource | None) -> AsyncIterator[None]:
    """``source`` polling its directory in the background for the block (None: nothing)."""
    if source is None:
        yield
        return
    task = asyncio.get_running_loop().create_task(source.run(), name="tls-renewal")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
