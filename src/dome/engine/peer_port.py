"""Replication on a port of its own, which only this exchange's engines may reach.

An engine's client port is open to every client (on Kubernetes: to every pod the
NetworkPolicy admits as a client). Replication, the calls that count as a follower's
acknowledgement or return every account's orders, moves to the peer port
(``--peer-port``), which the NetworkPolicy opens only to the exchange's own engines; the
peer secret (``dome.peer_auth``) still guards it, so the policy is a second fence, not
the only one. What stays on the client port, and why:

- ``GetReplicaStatus``: a public read (``dome check``, the operator's status; no order,
  account or journal byte);
- forwarding: an engine forwards a client's order to the symbol's primary as that
  client, with the client's own token, to the primary's client port, where it is checked
  as any client's call. It needs nothing a client could not do.

On the client port ``Replicate``, ``FetchLog`` and ``FetchSnapshot`` answer UNIMPLEMENTED,
naming the peer port, before any handler runs or any request byte is parsed, with one
exception for rolling upgrades: while a live engine of the placement has no peer address
(an engine from before peer ports, which dials every primary's client address), the
client port keeps serving them to peers (with the peer secret), so that engine can still
follow; the exception ends by itself once every engine is upgraded.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from dome.peer_auth import PEER_METHODS, refusing
from dome.v1 import replication_pb2

log = logging.getLogger("dome.engine")

_REPLICATION = replication_pb2.DESCRIPTOR.services_by_name["ReplicationService"]
#: The methods served on the peer port only (GetReplicaStatus is public: both ports).
PEER_PORT_METHODS = (
    frozenset(f"/{_REPLICATION.full_name}/{method.name}" for method in _REPLICATION.methods)
    & PEER_METHODS
)
CODE = grpc.StatusCode.UNIMPLEMENTED
REASON = (
    "replication is served on this engine's peer port (the placement's peer_address), to "
    "the engines of its exchange only; the client port serves trading and market data"
)


def with_port(address: str, port: int) -> str:
    """``address`` (host:port, IPv6 in brackets) with its port replaced by ``port``."""
    host, _, _ = address.rpartition(":")
    return f"{host}:{port}"


class ClientPortRefusesReplication(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # not generic at run time
    """On the client port: the peer-port methods answer UNIMPLEMENTED.

    ``legacy_peers`` is asked at every such call: while it is true (a live engine of the
    placement has no peer port), the call goes on to the peer-secret check and the
    handler, as before peer ports. Goes first among the client port's interceptors.
    """

    def __init__(self, legacy_peers: Callable[[], bool]) -> None:
        self._legacy_peers = legacy_peers

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method not in PEER_PORT_METHODS:
            return handler
        if self._legacy_peers():
            return handler
        log.info(
            "replication call on the client port refused",
            extra={"method": handler_call_details.method},
        )
        return refusing(handler, REASON, CODE)
