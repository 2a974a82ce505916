"""``dome.v1.TradingService``: authenticate, admit, hand to the node, answer.

Each method is a few lines: who is calling (``Gate``), may they (rate, streams), then
the node does the work. Errors become statuses in ``errors.guard``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractContextManager
from typing import Any

import grpc

from dome.engine.answers import Answer, Encoder, encode_reference
from dome.engine.errors import guard
from dome.engine.forwarding import is_forwarded
from dome.engine.metrics import EngineMetrics, gauged
from dome.engine.node import EngineNode
from dome.engine.security import Gate
from dome.engine.sessions import Sessions
from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc

Context = grpc.aio.ServicerContext[Any, Any]

#: Request batches a SubmitOrders stream may have in flight before it stops reading.
_STREAM_WINDOW = 64
#: Reports in a GetHistory page by default, and at most.
HISTORY_PAGE = 1_000
MAX_HISTORY_PAGE = 10_000


class TradingServicer(tr_grpc.TradingServiceServicer):
    """Order entry and execution reports."""

    def __init__(
        self,
        node: EngineNode,
        gate: Gate,
        metrics: EngineMetrics,
        encode: Encoder = encode_reference,
    ) -> None:
        self._node = node
        self._gate = gate
        #: Writes a batch's answers as ``OrderBatchResult`` bytes (the core's encoder).
        self._encode = encode
        self._latency = {
            name: metrics.order_latency.labels(name)
            for name in (
                "SubmitOrder",
                "CancelOrder",
                "AmendOrder",
                "SubmitOrders",
                "CancelAllOrders",
            )
        }
        self._streams = metrics.open_streams
        self._refused = metrics.refused
        self._paced = metrics.paced
        self.sessions = Sessions(self._cancel_everywhere)

    async def _cancel_everywhere(self, account: str) -> int:
        """Cancel the account's open orders on every symbol this engine leads now."""
        _, actions = self._node.cancel_all_actions(account, "")
        if not actions:
            return 0
        results = await self._node.submit(account, actions, forwarded=True)
        return sum(r.status == pb.ORDER_STATUS_CANCELLED for r in results)

    async def _one(self, method: str, action: tr.OrderAction, context: Context) -> tr.OrderResult:
        started = time.perf_counter()
        async with guard(context, method, self._refused):
            with self._gate.calls.hold():
                account = self._gate.account(context)
                self._gate.admit(account, 1)
                forwarded = is_forwarded(context.invocation_metadata())
                result = await self._node.submit_one(account, action, forwarded=forwarded)
                self._latency[method].observe(time.perf_counter() - started)
                return result
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover

    async def SubmitOrder(self, request: tr.SubmitOrderRequest, context: Context) -> tr.OrderResult:
        return await self._one("SubmitOrder", tr.OrderAction(submit=request), context)

    async def CancelOrder(self, request: tr.CancelOrderRequest, context: Context) -> tr.OrderResult:
        return await self._one("CancelOrder", tr.OrderAction(cancel=request), context)

    async def AmendOrder(self, request: tr.AmendOrderRequest, context: Context) -> tr.OrderResult:
        return await self._one("AmendOrder", tr.OrderAction(amend=request), context)

    async def SubmitOrders(  # type: ignore[override]  # bytes: see below
        self, request_iterator: AsyncIterator[tr.OrderBatch], context: Context
    ) -> AsyncIterator[bytes]:
        # Yields serialized OrderBatchResults: registered with no response serializer
        # (``dome.engine.raw_rpcs``), so the answers are encoded once per batch.
        async with guard(context, "SubmitOrders", self._refused):
            account = self._gate.account(context)
            with self._gate.streams.hold(account), self._track("orders"):
                # Headers say "accepted": the SDK writes its first batch only after them.
                await context.send_initial_metadata(())
                # Reading runs ahead of answering so a client can pipeline batches; the
                # bounded queue keeps a client that never reads answers from piling up.
                inflight: asyncio.Queue[tuple[int, float, Awaitable[list[Answer]]] | None] = (
                    asyncio.Queue(_STREAM_WINDOW)
                )
                reader = asyncio.create_task(
                    self._read_batches(account, request_iterator, inflight)
                )
                try:
                    while (item := await inflight.get()) is not None:
                        batch_id, started, answers = item
                        yield self._encode(batch_id, await answers)
                        self._latency["SubmitOrders"].observe(time.perf_counter() - started)
                    await reader  # re-raises what stopped the reader (rate limit, ...)
                finally:
                    reader.cancel()

    async def _read_batches(
        self,
        account: str,
        requests: AsyncIterator[tr.OrderBatch],
        inflight: asyncio.Queue[tuple[int, float, Awaitable[list[Answer]]] | None],
    ) -> None:
        try:
            async for batch in requests:
                # Over its rate, the stream is slowed, not ended: reading no further holds
                # the client back through HTTP/2 flow control, which costs nothing here.
                commands = max(1, len(batch.actions))
                while (wait := self._gate.pace(account, commands)) > 0.0:
                    self._paced.inc(wait)
                    await asyncio.sleep(wait)
                # Timed from here: the latency histogram is the engine's work, and the
                # wait above is counted by dome_paced_seconds_total instead.
                started = time.perf_counter()
                answers = self._node.submit_answers(account, batch.actions)
                await inflight.put((batch.batch_id, started, answers))
        except Exception:
            # Wake the writer; it then awaits this task to learn why it stopped.
            await inflight.put(None)
            raise
        await inflight.put(None)

    async def CancelAllOrders(
        self, request: tr.CancelAllOrdersRequest, context: Context
    ) -> tr.CancelAllOrdersResponse:
        started = time.perf_counter()
        async with guard(context, "CancelAllOrders", self._refused):
            with self._gate.calls.hold():
                account = self._gate.account(context)
                symbols, actions = self._node.cancel_all_actions(account, request.symbol)
                # Charged as the cancels it makes: a mass cancel is not a way around the rate.
                self._gate.admit(account, max(1, len(actions)))
                results = await self._node.submit(account, actions, forwarded=True)
                self._latency["CancelAllOrders"].observe(time.perf_counter() - started)
                return tr.CancelAllOrdersResponse(results=results, symbols=symbols)
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover

    async def GetHistory(
        self, request: tr.GetHistoryRequest, context: Context
    ) -> tr.GetHistoryResponse:
        async with guard(context, "GetHistory", self._refused):
            with self._gate.calls.hold():
                account = self._gate.account(context)
                limit = min(request.limit or HISTORY_PAGE, MAX_HISTORY_PAGE)
                return self._node.history(account, request.symbol, request.from_seq, limit)
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover

    async def GetPositions(
        self, request: tr.GetPositionsRequest, context: Context
    ) -> tr.GetPositionsResponse:
        async with guard(context, "GetPositions", self._refused):
            with self._gate.calls.hold():
                account = self._gate.account(context)
                return self._node.positions(account, request.symbol, request.book)
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover

    async def ListOpenOrders(
        self, request: tr.ListOpenOrdersRequest, context: Context
    ) -> tr.ListOpenOrdersResponse:
        async with guard(context, "ListOpenOrders", self._refused):
            with self._gate.calls.hold():
                account = self._gate.account(context)
                return self._node.open_orders(account, request.symbol)
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover

    async def OpenSession(
        self, request: tr.OpenSessionRequest, context: Context
    ) -> AsyncIterator[tr.SessionEvent]:
        async with guard(context, "OpenSession", self._refused):
            account = self._gate.account(context)
            grace = self.sessions.grace_of(request.grace_ms)
            cod = request.cancel_on_disconnect
            with self._gate.streams.hold(account), self._track("sessions"):
                self.sessions.open(account, request.session_id, cod, grace)
                try:
                    await context.send_initial_metadata(())
                    yield tr.SessionEvent(
                        session_id=request.session_id,
                        grace_ms=round(grace * 1000),
                        cancel_on_disconnect=cod,
                    )
                    # Held until the client goes: gRPC cancels this handler then.
                    await asyncio.Event().wait()
                finally:
                    self.sessions.close(account, request.session_id)

    async def StreamExecutions(
        self, request: tr.StreamExecutionsRequest, context: Context
    ) -> AsyncIterator[tr.ExecutionReport]:
        async with guard(context, "StreamExecutions", self._refused):
            account = self._gate.account(context)
            symbols = set(request.symbols)
            for symbol in symbols | set(request.from_seq):
                self._node.symbol(symbol)  # NotFound for a symbol not traded here
            resume = dict(request.from_seq)
            with (
                self._gate.streams.hold(account),
                self._track("executions"),
                self._node.executions.subscribe([account]) as sub,
            ):
                # Subscribed and read back the history with no await between: each
                # report is in exactly one of the two (OutOfRange aborts before headers).
                held = [
                    (reporter, reporter.replay(account, seq))
                    for reporter, seq in (
                        (self._node.symbol(s).reporter, seq) for s, seq in sorted(resume.items())
                    )
                    if not symbols or reporter.spec.symbol in symbols
                ]
                # Headers now: the client knows the subscription is live before any report.
                await context.send_initial_metadata(())
                for reporter, records in held:
                    for record in records:
                        yield reporter.message(record)
                while True:
                    for report in await sub.next_items():
                        if symbols and report.symbol not in symbols:
                            continue
                        # A lagging replica may still publish what the caller has seen.
                        if report.seq < resume.get(report.symbol, 0):
                            continue
                        yield report

    def _track(self, kind: str) -> AbstractContextManager[None]:
        return gauged(self._streams.labels(kind))
