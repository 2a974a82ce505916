"""Asking an Exchange's discovery for its placement: one GetPlacement, under a deadline.

The operator's only call to anything but the API server. It must never hold up a status
refresh for long: the call has a short deadline, any failure becomes an ``Unavailable``
reading (the status keeps the last summary and says why), and nothing is retried here,
because the next refresh asks again.

The channel is plaintext. The operator's pod mounts no certificate (see the chart's
deployment template), so it could not present one; and discovery of an Exchange with
``spec.tls`` serves TLS and, with the ``ca.crt`` cert-manager puts in the Secret,
demands client certificates. For such an Exchange the call is not made at all and the
status says so; reading its placement needs a client certificate mounted into the
operator first.

On a cluster that enforces NetworkPolicies, the Exchange's policy admits the operator's
pods (by their namespace and labels) to discovery's port, which stays closed to
everything else outside the exchange.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import grpc

from dome.v1 import discovery_pb2 as pb
from dome.v1 import discovery_pb2_grpc as pb_grpc
from dome_operator import commands
from dome_operator.exchange import Exchange
from dome_operator.placement import PlacementReading, Unavailable

#: Deadline of one GetPlacement. Discovery answers from memory in milliseconds; two
#: seconds cover a busy node without letting a dead address stall the refresh.
DEADLINE_SECONDS = 2.0
#: Where to dial instead of the discovery Service's in-cluster name, with ``{name}`` and
#: ``{namespace}`` replaced: for an operator run outside the cluster (through
#: ``kubectl port-forward``) and for tests, which serve discovery on 127.0.0.1.
ADDRESS_ENV = "DOME_OPERATOR_DISCOVERY_ADDRESS"
TLS_UNSUPPORTED = "discovery requires TLS client certificates (spec.tls) and the operator has none"


def discovery_target(exchange: Exchange) -> str:
    """host:port the operator dials: the Service's DNS name unless ``ADDRESS_ENV`` is set."""
    template = os.environ.get(ADDRESS_ENV)
    if not template:
        return commands.discovery_address(exchange)
    return template.replace("{name}", exchange.name).replace("{namespace}", exchange.namespace)


async def read_placement(
    exchange: Exchange, *, deadline: float = DEADLINE_SECONDS
) -> PlacementReading:
    """Discovery's placement map, or ``Unavailable`` with a reason; never raises for a
    discovery that is down, slow or unresolvable, and returns within about ``deadline``."""
    if exchange.tls_secret is not None:
        return Unavailable(TLS_UNSUPPORTED)
    target = discovery_target(exchange)
    channel = grpc.aio.insecure_channel(target)
    try:
        # grpc-stubs type the stub as synchronous; this is a grpc.aio call.
        stub: Any = pb_grpc.DiscoveryServiceStub(channel)
        # The outer bound guards against a call that outlives its own deadline.
        answer = await asyncio.wait_for(
            stub.GetPlacement(pb.GetPlacementRequest(), timeout=deadline), deadline + 1
        )
    except grpc.aio.AioRpcError as exc:
        return Unavailable(f"discovery at {target} did not answer: {exc.code().name}")
    except TimeoutError:
        return Unavailable(f"discovery at {target} did not answer: DEADLINE_EXCEEDED")
    finally:
        await channel.close(None)
    if not isinstance(answer, pb.Placement):
        return Unavailable(f"discovery at {target} answered with {type(answer).__name__}")
    return answer
