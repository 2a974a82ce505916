"""TLS and mutual TLS for every gRPC hop, from a directory of PEM files.

The layout is cert-manager's (and Kubernetes' ``kubernetes.io/tls`` Secret's): ``tls.crt``
and ``tls.key`` are this process's certificate and key, ``ca.crt`` the authority that
signs every peer. With ``ca.crt`` present servers require client certificates (mTLS):
engines, discovery and the SDK all present one. Tokens still bind clients to accounts;
TLS only says which machines may talk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc


class TlsFilesError(ValueError):
    """A TLS directory is missing a file or holds an unreadable one."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM bytes of one reading of a TLS directory (``dome.tls_renewal`` re-reads it)."""

    certificate: bytes
    private_key: bytes
    #: Authority of peers' certificates; None: no client certificates required.
    ca: bytes | None

    @classmethod
    def from_dir(cls, directory: Path) -> TlsFiles:
        """Read ``tls.crt``, ``tls.key`` and (optional) ``ca.crt`` from ``directory``."""

        def read(name: str, required: bool) -> bytes | None:
            path = directory / name
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                if required:
                    raise TlsFilesError(f"{path} is missing") from None
                return None
            except OSError as exc:
                raise TlsFilesError(f"cannot read {path}: {exc.strerror}") from None
            if b"-----BEGIN" not in data:
                raise TlsFilesError(f"{path} is not PEM")
            return data

        certificate = read("tls.crt", True) or b""
        private_key = read("tls.key", True) or b""
        return cls(certificate, private_key, read("ca.crt", False))

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Dial TLS, trusting ``ca`` and presenting this process's certificate."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca,
            private_key=self.private_key,
            certificate_chain=self.certificate,
        )


#: Reconnect quickly to a peer that comes back: gRPC's defaults back off to 2 s and more
#: after a few failed attempts, and a channel in backoff fails every call at once, so an
#: engine would rejoin a restarted discovery (or follow a restarted primary) seconds late.
RECONNECT_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def open_channel(
    address: str, tls: TlsFiles | None, options: list[tuple[str, Any]] | None = None
) -> grpc.aio.Channel:
    """An asyncio channel to ``address``: TLS (mutual, with a certificate) when given files."""
    options = [*RECONNECT_OPTIONS, *(options or [])]
    if tls is None:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(address, tls.channel_credentials(), options=options)


def open_sync_channel(address: str, tls: TlsFiles | None) -> grpc.Channel:
    """``open_channel`` for synchronous callers."""
    if tls is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, tls.channel_credentials())
