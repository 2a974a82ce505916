"""``dome.v1.MarketDataService``: public books, trades and instruments; no token needed.

Public streams are bounded in number as a whole (there is no account to bound them by).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from dome.engine import codec
from dome.engine.errors import guard
from dome.engine.metrics import EngineMetrics
from dome.engine.metrics import gauged as _gauged
from dome.engine.node import EngineNode
from dome.engine.security import StreamSlots
from dome.v1 import market_data_pb2 as md
from dome.v1 import market_data_pb2_grpc as md_grpc

Context = grpc.aio.ServicerContext[Any, Any]

DEFAULT_DEPTH = 20
MAX_DEPTH = 1_000
DEFAULT_TRADES = 100

_PUBLIC = "public"


def _depth(requested: int) -> int:
    return min(requested or DEFAULT_DEPTH, MAX_DEPTH)


class MarketDataServicer(md_grpc.MarketDataServiceServicer):
    """Books and trades as this engine sees them."""

    def __init__(
        self,
        node: EngineNode,
        streams: StreamSlots,
        metrics: EngineMetrics,
        limits: md.Limits | None = None,
    ) -> None:
        self._node = node
        self._limits = limits or md.Limits()
        self._streams = streams
        self._refused = metrics.refused
        self._open = metrics.open_streams

    async def GetBook(self, request: md.GetBookRequest, context: Context) -> md.BookSnapshot:
        async with guard(context, "GetBook", self._refused):
            return self._node.symbol(request.symbol).feed.snapshot(_depth(request.depth))
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover

    async def StreamBook(
        self, request: md.StreamBookRequest, context: Context
    ) -> AsyncIterator[md.BookUpdate]:
        async with guard(context, "StreamBook", self._refused):
            feed = self._node.symbol(request.symbol).feed
            with (
                self._streams.hold(_PUBLIC),
                _gauged(self._open.labels("book")),
                feed.book_topic.subscribe([request.symbol]) as sub,
            ):
                # Subscribed and snapshotted with no await between: nothing falls through.
                yield feed.snapshot_update(_depth(request.depth))
                while True:
                    for update in await sub.next_items():
                        yield update

    async def StreamTrades(
        self, request: md.StreamTradesRequest, context: Context
    ) -> AsyncIterator[md.TradeEvent]:
        async with guard(context, "StreamTrades", self._refused):
            feed = self._node.symbol(request.symbol).feed
            after = request.after_trade_id
            with (
                self._streams.hold(_PUBLIC),
                _gauged(self._open.labels("trades")),
                feed.trade_topic.subscribe([request.symbol]) as sub,
            ):
                # Subscribed and read the ring with no await between: no gap, no repeat.
                held = feed.trades_after(after) if after else []
                await context.send_initial_metadata(())
                for trade in held:
                    yield trade
                while True:
                    for trade in await sub.next_items():
                        # A lagging replica may still publish what the caller has seen.
                        if trade.trade_id > after:
                            yield trade

    async def ListTrades(
        self, request: md.ListTradesRequest, context: Context
    ) -> md.ListTradesResponse:
        async with guard(context, "ListTrades", self._refused):
            feed = self._node.symbol(request.symbol).feed
            ring = feed.recent_trades
            limit = min(request.limit or DEFAULT_TRADES, len(ring))
            return md.ListTradesResponse(trades=feed.messages(list(ring)[len(ring) - limit :]))
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover

    async def ListInstruments(
        self, request: md.ListInstrumentsRequest, context: Context
    ) -> md.ListInstrumentsResponse:
        async with guard(context, "ListInstruments", self._refused):
            return md.ListInstrumentsResponse(
                instruments=[codec.instrument(s.spec) for s in self._node.symbols.values()],
                limits=self._limits,
            )
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover
