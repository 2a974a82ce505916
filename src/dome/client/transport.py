"""How a client's calls reach the exchange: one engine, or each symbol's primary.

``Transport`` owns the wire: the channel (or, in a cluster, the router's pool of
channels), the stubs, the bearer metadata, the window of calls in flight, and the one
retry loop of each mode: ``attempts`` against one engine (a doubling backoff), ``routed``
against a symbol's primary (waiting for a newer placement between tries, and for a
primary during an election). What to retry on is the caller's: ``retry_policy`` names
the sets. ``Client`` turns decimal orders into requests and answers into results and
hands every request here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from dome.client.errors import UnavailableError, from_grpc
from dome.client.models import Action, AmendOrder, CancelOrder, NewOrder, OrderResult
from dome.client.retry_policy import MAYBE_APPLIED, NOT_APPLIED, REROUTE, UNAVAILABLE, marked
from dome.client.routing import Router
from dome.v1 import market_data_pb2_grpc, trading_pb2, trading_pb2_grpc

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")
Metadata = tuple[tuple[str, str], ...]


class Transport:
    """The channel or router, the stubs and the retry loops of one ``Client``.

    ``timeout`` bounds each attempt and ``retry_deadline`` all attempts of one call;
    ``Client`` reads and sets them here. At most ``max_in_flight`` unary calls are on the
    wire at once; the rest wait.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel | None,
        router: Router | None,
        metadata: Metadata,
        *,
        timeout: float,
        retry_deadline: float,
        max_in_flight: int,
    ) -> None:
        self.channel = channel
        self.router = router
        self.metadata = metadata
        self.timeout = timeout
        self.retry_deadline = retry_deadline
        # In a cluster every call picks its engine's stubs from the router's pool instead.
        self.trading: Any = channel and trading_pb2_grpc.TradingServiceStub(channel)
        self.market: Any = channel and market_data_pb2_grpc.MarketDataServiceStub(channel)
        self.window = asyncio.Semaphore(max_in_flight)

    async def call(
        self,
        symbol: str | None,
        method: str,
        request: Any,
        retry_on: frozenset[grpc.StatusCode],
        *,
        routed: frozenset[grpc.StatusCode] | None = None,
    ) -> tuple[Any, bool]:
        """``method`` on the engine, or in a cluster on ``symbol``'s primary (the home
        engine if no symbol), repeated after ``retry_on`` (``routed`` in a cluster, where
        a refusal may only mean "not the primary any more").

        Returns the answer and whether an earlier attempt may have applied it (routed
        calls only: one engine's retry sets are never uncertain).
        """
        if self.router is None:
            stub = self.trading if hasattr(self.trading, method) else self.market
            return await self.unary(getattr(stub, method), request, retry_on), False
        return await self.routed_unary(
            symbol, method, request, retry_on if routed is None else routed
        )

    async def read(self, symbol: str | None, method: str, request: Any) -> Any:
        """A read: safe to repeat after any failure that did not answer."""
        resp, _ = await self.call(symbol, method, request, REROUTE)
        return resp

    async def bulk(
        self, actions: list[Action], wire: list[trading_pb2.OrderAction], batch_size: int
    ) -> list[OrderResult]:
        """``actions`` (encoded as ``wire``) over SubmitOrders: one stream to the engine,
        or in a cluster one per symbol to its primary."""
        if self.router is not None:
            return await self.routed_bulk(actions, wire, batch_size)
        return await self.direct_bulk(actions, wire, batch_size)

    async def routed_unary(
        self, symbol: str | None, method: str, request: Any, retry_on: frozenset[grpc.StatusCode]
    ) -> tuple[Any, bool]:
        async def attempt(address: str, limit: float, _: bool) -> Any:
            channel = self.pool(address)
            stub: Any = trading_pb2_grpc.TradingServiceStub(channel)
            if not hasattr(stub, method):
                stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
            async with self.window:
                return await getattr(stub, method)(request, metadata=self.metadata, timeout=limit)

        return await self.routed(symbol, attempt, retry_on, self.timeout)

    def pool(self, address: str) -> grpc.aio.Channel:
        assert self.router is not None
        return self.router.channel(address)

    async def routed(
        self,
        symbol: str | None,
        attempt: Callable[[str, float, bool], Awaitable[_Resp]],
        retry_on: frozenset[grpc.StatusCode],
        per_attempt: float,
    ) -> tuple[_Resp, bool]:
        """Run ``attempt(address, timeout, uncertain)`` on the symbol's primary until done.

        Returns the answer and whether an earlier attempt failed in a way that may have
        applied it (UNAVAILABLE). Waits while the symbol has no primary.
        """
        router = self.router
        assert router is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_deadline
        delay = 0.05
        uncertain = False
        tried = 0
        while True:
            seen = router.version
            if symbol is None:
                engines = router.engines()
                address = engines[tried % len(engines)] if engines else None
            else:
                address = router.primary(symbol)
                if address is None and symbol not in router.routes:
                    address = router.home  # not placed: the home engine answers for it
            left = deadline - loop.time()
            if address is not None:
                tried += 1
                try:
                    limit = max(min(per_attempt, left), 0.05)
                    return await attempt(address, limit, uncertain), uncertain
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in retry_on or loop.time() + delay >= deadline:
                        raise from_grpc(exc) from None
                    uncertain = uncertain or exc.code() in MAYBE_APPLIED
                await router.wait_for_change(seen, delay)
                delay = min(delay * 2, 1.0)
            elif left <= 0:
                raise UnavailableError(
                    UNAVAILABLE, f"{symbol}: no primary within {self.retry_deadline:g}s"
                )
            else:
                await router.wait_for_change(seen, left)

    async def routed_bulk(
        self, actions: list[Action], wire: list[trading_pb2.OrderAction], batch_size: int
    ) -> list[OrderResult]:
        shares: dict[str, list[int]] = {}
        for i, action in enumerate(actions):
            shares.setdefault(action.symbol, []).append(i)
        results: list[OrderResult | None] = [None] * len(actions)

        async def send(symbol: str, indexes: list[int]) -> None:
            chunks = [indexes[at : at + batch_size] for at in range(0, len(indexes), batch_size)]
            batches = [
                trading_pb2.OrderBatch(batch_id=b, actions=[wire[i] for i in chunk])
                for b, chunk in enumerate(chunks)
            ]
            answered: dict[int, tuple[list[OrderResult], bool]] = {}

            async def attempt(address: str, limit: float, uncertain: bool) -> None:
                pending = [b for b in batches if b.batch_id not in answered]
                stub = trading_pb2_grpc.TradingServiceStub(self.pool(address))

                async def requests() -> AsyncIterator[trading_pb2.OrderBatch]:
                    await call.initial_metadata()  # see submit_orders: grpc/grpc#36066
                    if call.done():
                        return
                    for batch in pending:
                        yield batch

                call = stub.SubmitOrders(requests(), metadata=self.metadata, timeout=limit)
                async for resp in call:
                    done = [OrderResult.from_proto(r) for r in resp.results]
                    answered[resp.batch_id] = (done, uncertain)

            amends = any(isinstance(actions[i], AmendOrder) for i in indexes)
            per_attempt = self.timeout + 0.1 * len(batches)
            await self.routed(symbol, attempt, NOT_APPLIED if amends else REROUTE, per_attempt)
            for b, chunk in enumerate(chunks):
                done, uncertain = answered.get(b, ([], False))
                for i, result in zip(chunk, done, strict=False):
                    is_cancel = isinstance(actions[i], CancelOrder)
                    results[i] = marked(result, uncertain and is_cancel)

        await asyncio.gather(*(send(symbol, idx) for symbol, idx in shares.items()))
        return [r for r in results if r is not None]

    async def unary(
        self,
        method: Callable[..., Awaitable[_Resp]],
        request: _Req,
        retry_on: frozenset[grpc.StatusCode],
    ) -> _Resp:
        async def attempt(req: _Req, metadata: Any, limit: float) -> _Resp:
            async with self.window:
                return await method(req, metadata=metadata, timeout=limit)

        return await self.attempts(attempt, request, retry_on, self.timeout)

    async def attempts(
        self,
        attempt: Callable[[_Req, Any, float], Awaitable[_Resp]],
        request: _Req,
        retry_on: frozenset[grpc.StatusCode],
        per_attempt: float,
    ) -> _Resp:
        """Run ``attempt`` until it answers, repeating after ``retry_on`` with a backoff."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_deadline
        delay = 0.05
        while True:
            left = max(deadline - loop.time(), 0.05) if retry_on else per_attempt
            try:
                return await attempt(request, self.metadata, min(per_attempt, left))
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in retry_on or loop.time() + delay >= deadline:
                    raise from_grpc(exc) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def direct_bulk(
        self, actions: list[Action], wire: list[trading_pb2.OrderAction], batch_size: int
    ) -> list[OrderResult]:
        """``actions`` (encoded as ``wire``) over one engine's SubmitOrders stream."""
        batches = [
            trading_pb2.OrderBatch(batch_id=i, actions=wire[start : start + batch_size])
            for i, start in enumerate(range(0, len(wire), batch_size))
        ]
        retry = REROUTE if all(isinstance(a, NewOrder) for a in actions) else frozenset()

        async def attempt(_: None, metadata: Any, limit: float) -> list[OrderResult]:
            async def requests() -> AsyncIterator[trading_pb2.OrderBatch]:
                # Write only once the engine has accepted the stream (it sends headers
                # then): a write racing its refusal would make grpc.aio report INTERNAL
                # in place of the engine's status (grpc/grpc#36066).
                await call.initial_metadata()
                if call.done():
                    return
                for batch in batches:
                    yield batch

            call = self.trading.SubmitOrders(requests(), metadata=metadata, timeout=limit)
            by_batch: dict[int, list[OrderResult]] = {}
            async for resp in call:
                by_batch[resp.batch_id] = [OrderResult.from_proto(r) for r in resp.results]
            return [r for b in batches for r in by_batch.get(b.batch_id, [])]

        # A stream needs longer than one call; allow a little per batch on top.
        return await self.attempts(attempt, None, retry, self.timeout + 0.1 * len(batches))
