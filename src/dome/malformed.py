"""Requests whose bytes do not parse get INVALID_ARGUMENT in our words, on every RPC.

Left to itself, grpcio answers a request its deserializer cannot parse with UNKNOWN and
protobuf's exception text, and a bad message inside a client stream reaches the handler
as an error it never expected (INTERNAL). Neither is how an exchange should answer a
caller's mistake (DESIGN.md section 4). This interceptor swaps each method's request
deserializer for one that never raises: a message that does not parse becomes a
``Malformed`` value, and the call is aborted with INVALID_ARGUMENT naming the message
type before any handler code sees it (for a stream: when the handler reads it).

One interceptor for the engine and discovery alike, so no servicer has to remember.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

#: The status every unparsable request gets.
CODE = grpc.StatusCode.INVALID_ARGUMENT


class Malformed:
    """What a request deserializer returns for bytes that are not its message."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _safe(deserialize: Callable[[bytes], Any] | None, method: str) -> Callable[[bytes], Any]:
    if deserialize is None:
        return lambda data: data
    # Generated stubs deserialize with ``Message.FromString``: name its type to the caller.
    descriptor = getattr(getattr(deserialize, "__self__", None), "DESCRIPTOR", None)
    expected = getattr(descriptor, "full_name", "message")
    reason = f"{method}: the request bytes are not a valid {expected}"

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:  # DecodeError, or whatever a custom deserializer raises
            return Malformed(reason)

    return parse


async def _refuse(context: grpc.aio.ServicerContext[Any, Any], request: Malformed) -> None:
    await context.abort(CODE, request.reason)


class _CheckedContext:
    """A servicer context whose ``read()`` refuses a malformed stream message."""

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._context = context

    async def read(self) -> Any:
        message = await self._context.read()
        if isinstance(message, Malformed):
            await _refuse(self._context, message)
        return message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


async def _checked(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[Any]:
    async for message in requests:
        if isinstance(message, Malformed):
            await _refuse(context, message)
        yield message


def _guarded(
    handler: grpc.RpcMethodHandler[Any, Any], method: str
) -> grpc.RpcMethodHandler[Any, Any]:
    deserialize = _safe(handler.request_deserializer, method)
    serialize = handler.response_serializer
    if handler.unary_unary is not None:
        inner_uu: Callable[..., Awaitable[Any]] = handler.unary_unary

        async def unary_unary(request: Any, context: Any) -> Any:
            if isinstance(request, Malformed):
                await _refuse(context, request)
            return await inner_uu(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, deserialize, serialize)
    if handler.unary_stream is not None:
        inner_us: Callable[..., Any] = handler.unary_stream
        if inspect.isasyncgenfunction(inner_us):

            async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                if isinstance(request, Malformed):
                    await _refuse(context, request)
                async for item in inner_us(request, context):
                    yield item

            return grpc.unary_stream_rpc_method_handler(unary_stream, deserialize, serialize)

        async def unary_stream_writer(request: Any, context: Any) -> None:
            if isinstance(request, Malformed):
                await _refuse(context, request)
            await inner_us(request, context)

        return grpc.unary_stream_rpc_method_handler(unary_stream_writer, deserialize, serialize)
    if handler.stream_unary is not None:
        inner_su: Callable[..., Awaitable[Any]] = handler.stream_unary

        async def stream_unary(requests: Any, context: Any) -> Any:
            return await inner_su(_checked(requests, context), _CheckedContext(context))

        return grpc.stream_unary_rpc_method_handler(stream_unary, deserialize, serialize)
    inner_ss: Callable[..., Any] | None = handler.stream_stream
    if inner_ss is None:  # no behaviour at all: nothing to guard
        return handler
    if inspect.isasyncgenfunction(inner_ss):

        async def stream_stream(requests: Any, context: Any) -> AsyncIterator[Any]:
            async for item in inner_ss(_checked(requests, context), _CheckedContext(context)):
                yield item

        return grpc.stream_stream_rpc_method_handler(stream_stream, deserialize, serialize)

    async def stream_stream_writer(requests: Any, context: Any) -> None:
        await inner_ss(_checked(requests, context), _CheckedContext(context))

    return grpc.stream_stream_rpc_method_handler(stream_stream_writer, deserialize, serialize)


class RefuseMalformed(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # not generic at run time
    """Wraps every method handler of a server so unparsable requests are refused."""

    def __init__(self) -> None:
        self._cache: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        cached = self._cache.get(method)
        if cached is None:
            cached = self._cache[method] = _guarded(handler, method)
        return cached
