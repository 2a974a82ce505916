"""A standby discovery replica relays every call to the leader (``dome.discovery.relay``).

Two real gRPC servers on port 0, each with the interceptors ``dome discovery`` runs
(``RequirePeer``, ``RefuseMalformed``): a leader answering from a servicer, a standby
relaying to it. Calls are made with raw bytes so "byte for byte" is what is compared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from discovery_fakes import PEER

from dome.discovery.relay import DiscoveryRouter, LeaderChannel
from dome.malformed import RefuseMalformed
from dome.peer_auth import PeerAuth, RequirePeer
from dome.v1 import discovery_pb2 as pb

SERVICE = "/dome.v1.DiscoveryService"


class Servicer:
    """What a leader's ``DiscoveryServicer`` answers, enough to tell answers apart."""

    def __init__(self) -> None:
        self.heartbeats: list[tuple[pb.HeartbeatRequest, tuple[Any, ...]]] = []

    async def GetPlacement(self, request: pb.GetPlacementRequest, context: Any) -> pb.Placement:
        return pb.Placement(version=7)

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: Any) -> pb.HeartbeatResponse:
        self.heartbeats.append((request, tuple(context.invocation_metadata())))
        if request.engine_id == "stranger":
            await context.abort(grpc.StatusCode.NOT_FOUND, "engine stranger is not registered")
        return pb.HeartbeatResponse(placement_version=7, lease_ttl_seconds=4.0)

    async def WatchPlacement(
        self, request: pb.WatchPlacementRequest, context: Any
    ) -> AsyncIterator[pb.Placement]:
        for version in (1, 2, 3):
            yield pb.Placement(version=version)


@dataclass
class Pair:
    leader: str
    standby: str
    servicer: Servicer
    #: What the standby believes the leader's address is ("" : none known).
    known: list[str]


async def _server(router: DiscoveryRouter, auth: PeerAuth) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server(interceptors=[RequirePeer(auth), RefuseMalformed()])
    server.add_generic_rpc_handlers((router,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def _pair(standby_auth: PeerAuth) -> AsyncIterator[Pair]:
    servicer = Servicer()
    idle = LeaderChannel(lambda: "")
    leader, leader_address = await _server(DiscoveryRouter(lambda: servicer, idle), PEER)
    known = [leader_address]
    relay = LeaderChannel(lambda: known[0])
    standby, standby_address = await _server(DiscoveryRouter(lambda: None, relay), standby_auth)
    try:
        yield Pair(leader_address, standby_address, servicer, known)
    finally:
        await standby.stop(None)
        await relay.close()
        await leader.stop(None)


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async for made in _pair(PEER):
        yield made


@pytest.fixture
async def open_standby() -> AsyncIterator[Pair]:
    """The standby checks no peer secret: only the leader's check stands."""
    async for made in _pair(PeerAuth.disabled()):
        yield made


async def unary(address: str, method: str, body: bytes, metadata: Any = ()) -> bytes:
    async with grpc.aio.insecure_channel(address) as channel:
        answer: bytes = await channel.unary_unary(f"{SERVICE}/{method}")(
            body, metadata=metadata, timeout=5
        )
        return answer


async def stream(address: str, method: str, body: bytes) -> list[bytes]:
    async with grpc.aio.insecure_channel(address) as channel:
        return [item async for item in channel.unary_stream(f"{SERVICE}/{method}")(body, timeout=5)]


async def test_a_standby_relays_unary_and_stream_answers_byte_for_byte(pair: Pair) -> None:
    request = pb.GetPlacementRequest().SerializeToString()
    direct = await unary(pair.leader, "GetPlacement", request)
    assert pb.Placement.FromString(direct).version == 7
    assert await unary(pair.standby, "GetPlacement", request) == direct

    watch = pb.WatchPlacementRequest().SerializeToString()
    direct_stream = await stream(pair.leader, "WatchPlacement", watch)
    assert [pb.Placement.FromString(b).version for b in direct_stream] == [1, 2, 3]
    assert await stream(pair.standby, "WatchPlacement", watch) == direct_stream


async def test_a_standby_that_knows_no_leader_answers_unavailable(pair: Pair) -> None:
    pair.known[0] = ""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await unary(pair.standby, "GetPlacement", b"")
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "no leader is known" in (refused.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as stream_refused:
        await stream(pair.standby, "WatchPlacement", b"")
    assert stream_refused.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_an_unreachable_leader_is_unavailable_through_the_standby(pair: Pair) -> None:
    # A port nothing listens on: the leader died and its Lease still names it.
    probe = grpc.aio.server()
    port = probe.add_insecure_port("127.0.0.1:0")
    pair.known[0] = f"127.0.0.1:{port}"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await unary(pair.standby, "GetPlacement", b"")
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "discovery leader unavailable" in (refused.value.details() or "")


async def test_the_leaders_refusal_comes_back_through_the_standby_unchanged(pair: Pair) -> None:
    request = pb.HeartbeatRequest(engine_id="stranger", incarnation="i").SerializeToString()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await unary(pair.standby, "Heartbeat", request, PEER.metadata)
    assert refused.value.code() is grpc.StatusCode.NOT_FOUND
    assert refused.value.details() == "engine stranger is not registered"


async def test_peer_calls_carry_the_callers_credentials_to_the_leader(pair: Pair) -> None:
    request = pb.HeartbeatRequest(engine_id="e1", incarnation="i").SerializeToString()
    answer = await unary(pair.standby, "Heartbeat", request, PEER.metadata)
    assert pb.HeartbeatResponse.FromString(answer).lease_ttl_seconds == 4.0
    ((seen, metadata),) = pair.servicer.heartbeats
    assert seen.engine_id == "e1"
    assert dict(PEER.metadata).items() <= dict(metadata).items()


async def test_a_standby_refuses_a_peer_call_without_the_secret(pair: Pair) -> None:
    request = pb.HeartbeatRequest(engine_id="e1", incarnation="i").SerializeToString()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await unary(pair.standby, "Heartbeat", request)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert pair.servicer.heartbeats == []


async def test_the_leader_checks_the_secret_even_when_a_standby_does_not(
    open_standby: Pair,
) -> None:
    request = pb.HeartbeatRequest(engine_id="e1", incarnation="i").SerializeToString()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await unary(open_standby.standby, "Heartbeat", request, (("authorization", "Peer x" * 4),))
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert open_standby.servicer.heartbeats == []


async def test_the_leader_refuses_unparsable_bytes_and_calls_nothing(pair: Pair) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await unary(pair.standby, "Heartbeat", b"\xff\xff\xff", PEER.metadata)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid dome.v1.HeartbeatRequest" in (refused.value.details() or "")
    assert pair.servicer.heartbeats == []
