"""Streams that outlive the replica serving them.

In a cluster every replica of a symbol produces the same execution reports and trades
with the same (symbol, seq) and trade ids, so when the engine behind a stream dies
(UNAVAILABLE) the SDK reopens the stream on another live replica named by the
placement and resumes from the last position it delivered: executions with
``from_seq`` (several reports can share a seq, so it resumes from the last seq seen and
skips as many reports of that seq as it already delivered), trades with
``after_trade_id``, books from the new replica's snapshot. The caller sees one
continuous stream; ``StreamStats.resyncs`` counts the moves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any

import grpc

from dome.client.errors import (
    DomeError,
    HistoryUnavailableError,
    UnavailableError,
    from_grpc,
    from_status,
)
from dome.client.models import Execution, StreamStats
from dome.client.routing import Router
from dome.v1 import market_data_pb2, market_data_pb2_grpc, trading_pb2, trading_pb2_grpc

Metadata = tuple[tuple[str, str], ...]

#: Reports a resuming execution stream holds for its reader before it stops reading.
QUEUE_LIMIT = 10_000


async def subscribed(call: Any) -> None:
    """Wait for the stream's headers: the engine sends them once the subscription is live.

    A call the engine refuses (bad token, unknown symbol) raises its typed error here.
    """
    try:
        await call.initial_metadata()
        if call.done():
            code = await call.code()
            if code != grpc.StatusCode.OK:
                details = await call.details()
                raise from_status(code, details or "")
    except grpc.aio.AioRpcError as exc:
        raise from_grpc(exc) from None


class Replicas:
    """Opens a symbol's stream on a live replica, trying others when one is unreachable."""

    def __init__(self, router: Router, deadline: float) -> None:
        self.router = router
        #: Seconds to keep looking for a replica before giving up with UNAVAILABLE.
        self.deadline = deadline

    def choose(self, symbol: str, avoid: set[str]) -> str:
        """The first replica of ``symbol`` not in ``avoid`` (any, if all are)."""
        candidates = self.router.replicas(symbol)
        fresh = [a for a in candidates if a not in avoid]
        return (fresh or candidates or [self.router.home])[0]

    def trading(self, address: str) -> Any:
        """TradingService stub on the pooled channel (typed Any: the stubs are typed sync)."""
        return trading_pb2_grpc.TradingServiceStub(self.router.channel(address))

    def market(self, address: str) -> Any:
        """MarketDataService stub on the pooled channel."""
        return market_data_pb2_grpc.MarketDataServiceStub(self.router.channel(address))

    async def open(
        self, symbol: str, avoid: set[str], start: Callable[[str], Any]
    ) -> tuple[str, Any]:
        """``start(address)`` on replicas of ``symbol`` until one accepts; (address, call)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline
        delay = 0.05
        while True:
            seen = self.router.version
            address = self.choose(symbol, avoid)
            call = start(address)
            try:
                await subscribed(call)
                return address, call
            except UnavailableError:
                call.cancel()
                avoid.add(address)
            except HistoryUnavailableError:
                # A replica restarted since holds less history: another may hold it.
                call.cancel()
                avoid.add(address)
                if set(self.router.replicas(symbol)) <= avoid:
                    raise
            left = deadline - loop.time()
            if left <= 0:
                raise UnavailableError(
                    grpc.StatusCode.UNAVAILABLE, f"{symbol}: no replica reachable"
                )
            await self.router.wait_for_change(seen, min(delay, left))
            delay = min(delay * 2, 1.0)


class ExecutionFeed:
    """One account's execution reports over every replica that serves its symbols.

    Symbols are grouped by the replica chosen for them, one stream per group; a broken
    stream's symbols are regrouped over the remaining replicas and resumed.
    """

    def __init__(
        self,
        replicas: Replicas,
        metadata: Metadata,
        symbols: list[str],
        stats: StreamStats,
        resume: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        self._replicas = replicas
        self._metadata = metadata
        self._symbols = symbols
        self._stats = stats
        self._queue: asyncio.Queue[trading_pb2.ExecutionReport | DomeError] = asyncio.Queue(
            QUEUE_LIMIT
        )
        #: Per symbol: [seq of the last report delivered, how many of that seq]; a
        #: ``resume`` given by the caller counts as delivered (``Client.subscribe_executions``).
        self._positions: dict[str, list[int]] = {
            s: [seq, count] for s, (seq, count) in (resume or {}).items() if s in symbols
        }
        #: Per symbol: where to resume if no report was delivered yet (seq at subscribe + 1).
        self._starts: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> AsyncIterator[Execution]:
        """Subscribe on every group now; the returned stream reads them all."""
        groups: dict[str, list[str]] = {}
        for symbol in self._symbols:
            groups.setdefault(self._replicas.choose(symbol, set()), []).append(symbol)
        try:
            for address, group in groups.items():
                market = self._replicas.market(address)
                for symbol in group:
                    if symbol in self._positions:
                        continue
                    # Reports with a higher seq than this are sequenced after the
                    # subscription below, so in it; a resume never needs older ones.
                    book = await market.GetBook(
                        market_data_pb2.GetBookRequest(symbol=symbol, depth=1),
                        timeout=self._replicas.deadline,
                    )
                    self._starts[symbol] = book.seq + 1
                await self._connect(group, set(), resume=bool(self._positions))
        except grpc.aio.AioRpcError as exc:
            self.close()
            raise from_grpc(exc) from None
        except BaseException:
            self.close()
            raise
        return self._reports()

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _reports(self) -> AsyncIterator[Execution]:
        last: dict[str, int] = {}
        stats = self._stats
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, DomeError):
                    raise item
                stats.messages += 1
                if item.symbol in last and item.prev_seq != last[item.symbol]:
                    stats.gaps += 1
                last[item.symbol] = item.seq
                yield Execution.from_proto(item)
        finally:
            self.close()

    async def _connect(self, symbols: list[str], avoid: set[str], *, resume: bool) -> None:
        """Cover ``symbols`` with streams, split by replica, resuming each symbol."""
        todo = list(symbols)
        while todo:
            symbol = todo[0]
            address = self._replicas.choose(symbol, avoid)
            group = [s for s in todo if self._replicas.choose(s, avoid) == address]
            from_seq = {s: self._resume_seq(s) for s in group} if resume else {}

            request = trading_pb2.StreamExecutionsRequest(symbols=group, from_seq=from_seq)

            def start(addr: str, request: Any = request) -> Any:
                return self._replicas.trading(addr).StreamExecutions(
                    request, metadata=self._metadata
                )

            address, call = await self._replicas.open(symbol, avoid, start)
            # Reports of the resume seq already delivered come again first: skip them.
            skip = {s: self._positions[s][1] for s in group if resume and s in self._positions}
            task = asyncio.create_task(self._pump(address, group, call, from_seq, skip))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            todo = [s for s in todo if s not in group]

    def _resume_seq(self, symbol: str) -> int:
        position = self._positions.get(symbol)
        return position[0] if position else self._starts[symbol]

    async def _pump(
        self,
        address: str,
        group: list[str],
        call: Any,
        from_seq: dict[str, int],
        skip: dict[str, int],
    ) -> None:
        queue = self._queue
        positions = self._positions
        try:
            async for msg in call:
                symbol = msg.symbol
                if skip.get(symbol) and msg.seq == from_seq[symbol]:
                    skip[symbol] -= 1
                    continue
                position = positions.get(symbol)
                if position is not None and position[0] == msg.seq:
                    position[1] += 1
                else:
                    positions[symbol] = [msg.seq, 1]
                await queue.put(msg)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                await queue.put(from_grpc(exc))
                return
        finally:
            call.cancel()
        # The replica went away (or ended the stream): move the group elsewhere.
        self._stats.resyncs += 1
        try:
            await self._connect(group, {address}, resume=True)
        except DomeError as exc:
            await queue.put(exc)


async def resuming_trades(
    replicas: Replicas, metadata: Metadata, symbol: str, stats: StreamStats
) -> AsyncIterator[market_data_pb2.TradeEvent]:
    """Subscribe now; the returned stream yields trades in id order across failovers.

    A jump in trade ids is filled from ListTrades; a broken stream resumes on another
    replica after the last trade delivered.
    """
    state = {"last": 0}

    def start(address: str) -> Any:
        request = market_data_pb2.StreamTradesRequest(symbol=symbol, after_trade_id=state["last"])
        return replicas.market(address).StreamTrades(request, metadata=metadata)

    address = replicas.choose(symbol, set())
    try:
        held = await replicas.market(address).ListTrades(
            market_data_pb2.ListTradesRequest(symbol=symbol, limit=1),
            metadata=metadata,
            timeout=replicas.deadline,
        )
    except grpc.aio.AioRpcError as exc:
        raise from_grpc(exc) from None
    state["last"] = held.trades[-1].trade_id if held.trades else 0
    address, call = await replicas.open(symbol, set(), start)

    async def trades(address: str, call: Any) -> AsyncIterator[market_data_pb2.TradeEvent]:
        while True:
            try:
                async for msg in call:
                    stats.messages += 1
                    last = state["last"]
                    if msg.trade_id <= last:
                        continue
                    if msg.trade_id != last + 1:
                        stats.gaps += 1
                        stats.resyncs += 1
                        missed = await replicas.market(address).ListTrades(
                            market_data_pb2.ListTradesRequest(symbol=symbol, limit=10_000),
                            metadata=metadata,
                        )
                        for old in missed.trades:
                            if last < old.trade_id < msg.trade_id:
                                yield old
                    state["last"] = msg.trade_id
                    yield msg
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise from_grpc(exc) from None
            finally:
                call.cancel()
            stats.resyncs += 1
            address, call = await replicas.open(symbol, {address}, start)

    return trades(address, call)


async def resuming_book(
    replicas: Replicas, metadata: Metadata, symbol: str, depth: int
) -> AsyncGenerator[market_data_pb2.BookUpdate | None, None]:
    """Book updates across failovers; None marks a move (the next update is a snapshot)."""
    request = market_data_pb2.StreamBookRequest(symbol=symbol, depth=depth)

    def start(address: str) -> Any:
        return replicas.market(address).StreamBook(request, metadata=metadata)

    avoid: set[str] = set()
    while True:
        address, call = await replicas.open(symbol, avoid, start)
        try:
            async for msg in call:
                yield msg
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise from_grpc(exc) from None
        finally:
            with contextlib.suppress(Exception):
                call.cancel()
        avoid = {address}
        yield None
