"""Peers of one exchange prove it to each other: a shared secret on every peer call.

Engines register with discovery, renew their leases, hand primaries over and record
in-sync sets through it, and pull each other's journals and snapshots. Those calls
decide who leads a symbol, count as a follower's acknowledgement, or return every
account's orders, so only this exchange's own processes may make them. TLS
(``dome.tls``) cannot tell them apart from clients: the SDK presents a certificate from
the same authority. So every peer call carries ``authorization: Peer <secret>``, one
secret per exchange, read from a file (``--peer-secret-file``; ``dome up`` generates
one, the operator keeps one in a Secret per Exchange).

``RequirePeer`` checks it on the server before any handler runs or any request byte is
parsed. Which methods are peer-only is decided here, in one table: every method of the
two peer services except the reads listed in ``PUBLIC_METHODS``, so a method added to
those services later is peer-only until someone decides otherwise. The secret is
compared with ``hmac.compare_digest``: how long a refusal takes says nothing about how
much of a guess was right. A client's bearer token never passes for the secret (wrong
scheme), and the secret never passes for a bearer token (``dome.engine.security.Gate``
accepts only ``Bearer`` and tokens it knows).

Without a secret a process refuses every peer call; only ``--peer-auth none``, asked for
explicitly, turns the check off (for development, where anything that reaches the port
may register engines and read every order).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from dome.files import write_text
from dome.v1 import discovery_pb2, replication_pb2

log = logging.getLogger("dome.peer_auth")

#: The metadata key and scheme of a peer's credential.
HEADER = "authorization"
SCHEME = "Peer"
#: Environment variable naming the peer secret file (``--peer-secret-file`` wins).
SECRET_FILE_ENV = "DOME_PEER_SECRET_FILE"
#: Shorter secrets are refused: they are typing accidents, not secrets.
MIN_SECRET_LENGTH = 16

#: Services whose methods are peer-only, except ``PUBLIC_METHODS``.
PEER_SERVICES = (
    discovery_pb2.DESCRIPTOR.services_by_name["DiscoveryService"],
    replication_pb2.DESCRIPTOR.services_by_name["ReplicationService"],
)
#: Reads of the peer services anyone who reaches the port may call, and why.
PUBLIC_METHODS = frozenset(
    {
        # The SDK routes by placement, `dome placement`/`dome check` and the operator
        # read it: symbols, epochs, engine ids and the addresses clients dial anyway.
        "/dome.v1.DiscoveryService/GetPlacement",
        "/dome.v1.DiscoveryService/WatchPlacement",
        # The engines of a placement, nothing more.
        "/dome.v1.DiscoveryService/ListEngines",
        # The SDK's home engine: an address from the placement.
        "/dome.v1.DiscoveryService/AssignClient",
        # `dome check`: per replica its role, epoch, sequence numbers and state hash; no
        # order, account or journal byte.
        "/dome.v1.ReplicationService/GetReplicaStatus",
    }
)
#: Every method that needs the peer secret: RegisterEngine, Heartbeat, DrainEngine,
#: UpdateInSync, EvacuateEngines, Replicate, FetchLog, FetchSnapshot.
PEER_METHODS = (
    frozenset(
        f"/{service.full_name}/{method.name}"
        for service in PEER_SERVICES
        for method in service.methods
    )
    - PUBLIC_METHODS
)

#: The status a refused peer call gets (DESIGN.md section 4).
CODE = grpc.StatusCode.UNAUTHENTICATED


class PeerAuthError(ValueError):
    """A peer secret file that cannot be used, or peer options that do not fit."""


@dataclass(frozen=True)
class PeerAuth:
    """How this process proves itself to its peers, and checks that they are.

    ``PeerAuth()`` has no secret and refuses every peer call: the safe default for a
    process nobody configured. ``PeerAuth.disabled()`` is the explicit opt-out.
    """

    #: The exchange's peer secret; never in a repr, so never in a log line.
    secret: str | None = field(default=None, repr=False)
    #: False only when asked for (``--peer-auth none``): peer calls need no credentials.
    required: bool = True

    @classmethod
    def from_file(cls, path: Path) -> PeerAuth:
        """The secret in ``path`` (surrounding whitespace ignored); ``PeerAuthError``."""
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise PeerAuthError(f"peer secret file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PeerAuthError(f"cannot read peer secret file {path}: {exc}") from None
        return cls.from_secret(text, str(path))

    @classmethod
    def from_secret(cls, secret: str, source: str = "the peer secret") -> PeerAuth:
        """Checks what a secret must be: long enough, printable, one line."""
        if len(secret) < MIN_SECRET_LENGTH:
            raise PeerAuthError(
                f"{source}: a peer secret needs at least {MIN_SECRET_LENGTH} characters "
                f"(got {len(secret)})"
            )
        if not secret.isascii() or not secret.isprintable() or " " in secret:
            raise PeerAuthError(f"{source}: a peer secret is printable ASCII without spaces")
        return cls(secret)

    @classmethod
    def disabled(cls) -> PeerAuth:
        """Accept peer calls from anyone (``--peer-auth none``)."""
        return cls(None, required=False)

    @property
    def mode(self) -> str:
        """``secret``, ``none`` (disabled) or ``unset`` (no secret: every peer call refused)."""
        if not self.required:
            return "none"
        return "secret" if self.secret is not None else "unset"

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """What every outgoing peer call carries (nothing without a secret)."""
        return () if self.secret is None else ((HEADER, f"{SCHEME} {self.secret}"),)

    def refusal(self, metadata: Iterable[tuple[str, Any]] | None) -> str | None:
        """Why a call with ``metadata`` is not from a peer; None when it is one."""
        if not self.required:
            return None
        value = next((v for k, v in metadata or () if k == HEADER), None)
        if value is None:
            return f"peer call without credentials: peers send '{HEADER}: {SCHEME} <secret>'"
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        scheme, _, credential = text.partition(" ")
        if scheme.lower() != SCHEME.lower():
            return (
                f"'{scheme}' credentials do not authenticate a peer call (a client's bearer "
                f"token never does); peers send '{HEADER}: {SCHEME} <secret>'"
            )
        if self.secret is None:
            return "this process has no peer secret configured, so it refuses every peer call"
        if not hmac.compare_digest(credential.strip().encode(), self.secret.encode()):
            return "wrong peer secret: the caller is not a peer of this exchange"
        return None


def new_secret() -> str:
    """A fresh random peer secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def ensure_secret_file(path: Path) -> Path:
    """``path``, holding a new random secret (owner-only, 0600) unless it holds one already.

    An existing file is kept, so processes started from an earlier run still agree.
    """
    if not path.exists():
        write_text(path, new_secret() + "\n", private=True)
    PeerAuth.from_file(path)  # refuse a file someone emptied
    return path


# ------------------------------------------------------------------------ command line


def add_peer_auth_arguments(
    parser: argparse.ArgumentParser, *, guarded: str, needed: str = ""
) -> None:
    """``--peer-secret-file`` and ``--peer-auth``, spelled one way for every process.

    ``guarded`` says what the secret protects in this process, ``needed`` when it is
    required (empty: always).
    """
    parser.add_argument(
        "--peer-secret-file",
        type=Path,
        metavar="PATH",
        help=f"file holding this exchange's peer secret (at least {MIN_SECRET_LENGTH} "
        f"characters; default: ${SECRET_FILE_ENV}). Peers send it on every peer call; "
        f"{guarded}. Calls without it are refused with UNAUTHENTICATED, and a client's "
        f"bearer token never passes for it. Required{needed} unless --peer-auth none; "
        "`dome up` and the Kubernetes operator generate one",
    )
    parser.add_argument(
        "--peer-auth",
        choices=("secret", "none"),
        default="secret",
        help="secret (default): peer calls must carry the peer secret; none: accept peer "
        "calls from anyone, for development only (whoever reaches the port can register "
        "engines, move primaries and read every order)",
    )


def peer_auth_from_args(args: argparse.Namespace, *, needed: bool) -> PeerAuth:
    """The ``PeerAuth`` the options ask for; ``PeerAuthError`` naming what is wrong.

    ``needed``: this process serves or makes peer calls (discovery; an engine in a
    cluster), so it must have a secret unless peer authentication is explicitly off.
    """
    path = getattr(args, "peer_secret_file", None)
    if getattr(args, "peer_auth", "secret") == "none":
        if path is not None:
            raise PeerAuthError("--peer-auth none and --peer-secret-file contradict each other")
        return PeerAuth.disabled()
    path = path or (Path(os.environ[SECRET_FILE_ENV]) if os.environ.get(SECRET_FILE_ENV) else None)
    if path is None:
        if not needed:
            return PeerAuth()
        raise PeerAuthError(
            f"no peer secret: pass --peer-secret-file PATH (or set {SECRET_FILE_ENV}) naming "
            "a file with this exchange's peer secret, or --peer-auth none to accept peer "
            "calls from anyone (development only)"
        )
    return PeerAuth.from_file(path)


# ----------------------------------------------------------------------------- server


def refusing(
    handler: grpc.RpcMethodHandler[Any, Any], reason: str, code: grpc.StatusCode = CODE
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of ``handler``'s kind that answers ``code`` without reading a byte."""

    async def refuse(_: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(code, reason)

    serialize = handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(refuse, None, serialize)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(refuse, None, serialize)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(refuse, None, serialize)
    return grpc.stream_stream_rpc_method_handler(refuse, None, serialize)


class RequirePeer(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # not generic at run time
    """Refuses calls of ``methods`` (the peer-only ones) that do not carry the peer secret.

    Goes first in a server's interceptors, so a refused call reaches no other interceptor,
    no request parser and no handler.
    """

    def __init__(self, auth: PeerAuth, methods: frozenset[str] = PEER_METHODS) -> None:
        self._auth = auth
        self._methods = methods

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method not in self._methods:
            return handler
        reason = self._auth.refusal(handler_call_details.invocation_metadata)
        if reason is None:
            return handler
        log.info("peer call refused", extra={"method": method, "reason": reason})
        return refusing(handler, reason)
