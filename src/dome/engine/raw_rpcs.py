"""The trading service's handlers, with ``SubmitOrders`` answering in bytes the engine wrote.

The generated ``add_TradingServiceServicer_to_server`` serializes every
``OrderBatchResult`` the handler yields; ``SubmitOrders`` instead yields bytes its
answer encoder wrote in one call (``dome.engine.answers``), so its response serializer
is the identity. Every other method, and every request deserializer, is the generated
one: requests still parse in upb (a third of a microsecond per order), and the malformed
request check (``dome.malformed``) sees the same handlers as before. The generated table
is taken as it is, so a method added to the proto is served without a change here.
"""

from __future__ import annotations

from typing import Any, cast

import grpc

from dome.v1 import trading_pb2_grpc as tr_grpc

SERVICE = "dome.v1.TradingService"
#: Methods whose handler yields serialized messages.
RAW_RESPONSES = ("SubmitOrders",)


class _Table:
    """Stands in for the server while the generated code registers its handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        pass  # the same table comes again through the call below

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self.handlers = dict(handlers)


def trading_handlers(
    servicer: tr_grpc.TradingServiceServicer,
) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    """The service's method handlers; those in ``RAW_RESPONSES`` send bytes as they are."""
    table = _Table()
    # The generated function only calls the two methods ``_Table`` has.
    tr_grpc.add_TradingServiceServicer_to_server(servicer, cast(grpc.aio.Server, table))
    for name in RAW_RESPONSES:
        generated = table.handlers[name]
        assert generated.stream_stream is not None
        table.handlers[name] = grpc.stream_stream_rpc_method_handler(
            generated.stream_stream,
            request_deserializer=generated.request_deserializer,
            response_serializer=None,
        )
    return table.handlers


def add_trading_service(servicer: tr_grpc.TradingServiceServicer, server: grpc.aio.Server) -> None:
    """Serve ``servicer`` on ``server`` (``add_TradingServiceServicer_to_server``'s twin)."""
    handlers = trading_handlers(servicer)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    # As the generated code does; grpc-stubs predate the method.
    server.add_registered_method_handlers(SERVICE, handlers)  # type: ignore[attr-defined]
