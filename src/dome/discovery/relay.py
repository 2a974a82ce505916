"""Every discovery replica answers ``DiscoveryService``: the leader itself, a standby by relay.

docs/discovery-ha.md section 2 explains why a standby must be Ready and transparent
rather than unready: a RollingUpdate and a PodDisruptionBudget both count Ready pods,
so only a design where every healthy replica is Ready lets them work. The Service then
sends a call to any replica, and a standby relays it to the leader, raw bytes in and
out: engines, the SDK, the operator and ``dome check`` keep one address and change
nothing.

``DiscoveryRouter`` is one generic handler for every method of the service, built from
the service descriptor, so a method added later is routed too. Per call it asks
``local()``: the servicer of this replica when it leads, else None. That is decided per
call and not per handler because ``dome.malformed.RefuseMalformed`` caches the handler
of each method for the life of the server.

- Leading: the bytes are parsed here (unparsable bytes: INVALID_ARGUMENT, nothing
  called) and handed to the ``DiscoveryServicer``, whose answer is serialised back.
- Not leading, leader known: the call goes to the leader with the caller's metadata and
  what is left of its deadline; the leader's answer, or its status code and details,
  come back unchanged. Peer authentication (``dome.peer_auth``) therefore holds through
  a standby: the standby's own ``RequirePeer`` checks the secret first, and the leader
  checks the same ``authorization`` header again, so a standby is never a way around it.
- No leader known, or the leader unreachable: UNAVAILABLE, which engines, the SDK and
  the operator already retry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError, Message

from dome.tls import TlsFiles, open_channel
from dome.v1 import discovery_pb2

SERVICE = discovery_pb2.DESCRIPTOR.services_by_name["DiscoveryService"]

#: Metadata gRPC itself sets on a call; a relayed call gets its own.
_TRANSPORT_KEYS = ("user-agent",)
_TRANSPORT_PREFIXES = (":", "grpc-")

Context = grpc.aio.ServicerContext[Any, Any]
Local = Callable[[], Any]


def relayed_metadata(metadata: Any) -> list[Any]:
    """The caller's metadata minus what the transport sets: credentials travel on."""
    return [
        (key, value)
        for key, value in metadata or ()
        if key not in _TRANSPORT_KEYS and not key.startswith(_TRANSPORT_PREFIXES)
    ]


class LeaderChannel:
    """One channel to the leader at ``address()``, reopened when the leader changes."""

    def __init__(
        self,
        address: Callable[[], str],
        tls: Callable[[], TlsFiles | None] = lambda: None,
        *,
        server_name: str = "",
    ) -> None:
        self._address = address
        self._tls = tls
        #: The name the leader's certificate holds (the Service's); it is dialled by IP.
        self._options = [] if not server_name else [("grpc.ssl_target_name_override", server_name)]
        self._open: tuple[str, grpc.aio.Channel] | None = None
        self._retired: list[grpc.aio.Channel] = []

    def get(self) -> grpc.aio.Channel | None:
        """The channel to the leader now; None while no leader is known."""
        target = self._address()
        if not target:
            return None
        if self._open is None or self._open[0] != target:
            if self._open is not None:
                # Calls on it may still run (a watch stream); closed at close().
                self._retired.append(self._open[1])
            self._open = (target, open_channel(target, self._tls(), self._options))
        return self._open[1]

    async def close(self) -> None:
        channels = [*self._retired, *([] if self._open is None else [self._open[1]])]
        self._open, self._retired = None, []
        for channel in channels:
            await channel.close(None)


class DiscoveryRouter(grpc.GenericRpcHandler):  # type: ignore[type-arg]  # not generic at run time
    """``dome.v1.DiscoveryService``: answered by ``local()`` if it leads, else relayed."""

    def __init__(self, local: Local, leader: LeaderChannel) -> None:
        self._local = local
        self._leader = leader
        self._handlers = {
            f"/{SERVICE.full_name}/{method.name}": self._handler(method)
            for method in SERVICE.methods
        }

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        return self._handlers.get(handler_call_details.method)

    def _handler(self, method: MethodDescriptor) -> grpc.RpcMethodHandler[Any, Any]:
        if method.client_streaming:  # the service has none; refuse to guess if one comes
            raise NotImplementedError(f"{method.full_name}: client streams are not routed")
        path = f"/{SERVICE.full_name}/{method.name}"
        request_type = message_factory.GetMessageClass(method.input_type)

        def parse(data: bytes, context: Context) -> Message | None:
            try:
                return request_type.FromString(data)
            except DecodeError:
                return None

        async def unary(data: bytes, context: Context) -> bytes:
            servicer = self._local()
            if servicer is not None:
                request = parse(data, context)
                if request is None:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _malformed(method))
                answer: Message = await getattr(servicer, method.name)(request, context)
                return answer.SerializeToString()
            channel = await self._channel(context)
            call = channel.unary_unary(path, None, None)(
                data,
                metadata=relayed_metadata(context.invocation_metadata()),
                timeout=context.time_remaining(),
            )
            try:
                result: bytes = await call
                return result
            except grpc.aio.AioRpcError as error:
                await _pass_on(context, error)
                raise  # unreachable: abort raises

        async def stream(data: bytes, context: Context) -> AsyncIterator[bytes]:
            servicer = self._local()
            if servicer is not None:
                request = parse(data, context)
                if request is None:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _malformed(method))
                async for answer in getattr(servicer, method.name)(request, context):
                    yield answer.SerializeToString()
                return
            channel = await self._channel(context)
            call = channel.unary_stream(path, None, None)(
                data,
                metadata=relayed_metadata(context.invocation_metadata()),
                timeout=context.time_remaining(),
            )
            try:
                async for item in call:
                    yield item
            except grpc.aio.AioRpcError as error:
                await _pass_on(context, error)
            finally:
                call.cancel()  # the caller went away: so does the relayed stream

        if method.server_streaming:
            return grpc.unary_stream_rpc_method_handler(stream)
        return grpc.unary_unary_rpc_method_handler(unary)

    async def _channel(self, context: Context) -> grpc.aio.Channel:
        channel = self._leader.get()
        if channel is None:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                "this discovery replica is a standby and no leader is known yet: retry",
            )
            raise AssertionError("unreachable: abort raises")  # pragma: no cover
        return channel


def _malformed(method: MethodDescriptor) -> str:
    return f"{method.name}: the request bytes are not a valid {method.input_type.full_name}"


async def _pass_on(context: Context, error: grpc.aio.AioRpcError) -> None:
    """The leader's status, as the leader gave it; an unreachable leader is UNAVAILABLE."""
    details = error.details() or ""
    if error.code() is grpc.StatusCode.UNAVAILABLE:
        details = f"discovery leader unavailable (relayed by a standby): {details}"
    await context.abort(error.code(), details, tuple(error.trailing_metadata() or ()))  # type: ignore[arg-type]
