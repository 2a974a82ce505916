"""The client's pushed streams: executions, book updates, trades, with gaps detected.

One engine's streams are read here directly; a cluster's go through ``resuming``, which
moves them between replicas. A mixin of ``Client``, apart so each module holds one idea:
``client`` the calls, this the streams.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import grpc

from dome.client.errors import from_grpc
from dome.client.local_book import GapDetected, LocalBook
from dome.client.models import Execution, StreamStats, Trade
from dome.client.resuming import ExecutionFeed, Replicas, resuming_book, resuming_trades, subscribed
from dome.client.routing import Router
from dome.v1 import market_data_pb2, trading_pb2

Metadata = tuple[tuple[str, str], ...]


class Streams:
    """``Client``'s stream methods; the attributes are the client's (set in its init)."""

    _trading: Any
    _market: Any
    _router: Router | None
    _replicas: Replicas | None
    _metadata: Metadata

    async def trades(self, symbol: str, limit: int = 0) -> list[Trade]:
        raise NotImplementedError  # ``Client.trades``: fills a trade stream's gaps

    # -- pushed streams -------------------------------------------------------------

    async def executions(
        self, symbols: Iterable[str] = (), stats: StreamStats | None = None
    ) -> AsyncIterator[Execution]:
        """The account's execution reports as they happen; gaps are counted in ``stats``.

        The subscription starts when iteration does; use ``subscribe_executions`` to be
        sure it is live before placing the orders whose reports you want.
        """
        async for report in await self.subscribe_executions(symbols, stats):
            yield report

    async def subscribe_executions(
        self,
        symbols: Iterable[str] = (),
        stats: StreamStats | None = None,
        *,
        resume: Mapping[str, tuple[int, int]] | None = None,
        from_seq: Mapping[str, int] | None = None,
    ) -> AsyncIterator[Execution]:
        """Subscribe now; return the report stream once the engine has registered it.

        Every report of a command sequenced after this returns is in the stream. In a
        cluster (where no symbols means every symbol placed now) the stream survives the
        death of the replicas serving it: it resumes on others with no gap or repeat.

        ``resume`` continues an earlier stream, for a reader that keeps its place across
        its own restarts (the FIX gateway): per symbol ``(seq, count)``, the seq of the
        last report it handled and how many reports of that seq it handled. The stream
        then starts with the reports after that one, as long as the engine still holds
        them (else the subscription fails with ``HistoryUnavailableError``).

        ``from_seq`` starts a symbol's stream at the reports of that seq (0: the oldest
        the engine holds, up to 100,000 reports per symbol by default): a restarted bot
        reads its own history this way. In a cluster a replica that lacks the history
        (restarted since) is passed over for one that has it.
        """
        if from_seq:
            resume = {**{s: (seq, 0) for s, seq in from_seq.items()}, **(resume or {})}
        if self._replicas is not None and self._router is not None:
            wanted = list(symbols) or sorted(self._router.routes)
            feed = ExecutionFeed(
                self._replicas, self._metadata, wanted, stats or StreamStats(), resume
            )
            return await feed.start()
        positions = dict(resume or {})
        request = trading_pb2.StreamExecutionsRequest(
            symbols=list(symbols), from_seq={s: seq for s, (seq, _) in positions.items()}
        )
        call = self._trading.StreamExecutions(request, metadata=self._metadata)
        await subscribed(call)
        skip = {s: count for s, (_, count) in positions.items()}
        return self._execution_reports(
            call, stats if stats is not None else StreamStats(), positions, skip
        )

    async def _execution_reports(
        self,
        call: Any,
        stats: StreamStats,
        positions: dict[str, tuple[int, int]],
        skip: dict[str, int],
    ) -> AsyncIterator[Execution]:
        last: dict[str, int] = {}
        try:
            async for msg in call:
                if skip.get(msg.symbol) and msg.seq == positions[msg.symbol][0]:
                    skip[msg.symbol] -= 1  # handled before the resume
                    continue
                stats.messages += 1
                # The first report per symbol may follow ones sent before we subscribed.
                if msg.symbol in last and msg.prev_seq != last[msg.symbol]:
                    stats.gaps += 1
                last[msg.symbol] = msg.seq
                yield Execution.from_proto(msg)
        except grpc.aio.AioRpcError as exc:
            raise from_grpc(exc) from None
        finally:
            call.cancel()

    async def book_updates(
        self, symbol: str, depth: int = 0, stats: StreamStats | None = None
    ) -> AsyncIterator[LocalBook]:
        """A local copy of the book, yielded after every applied update.

        A gap (an update whose prev_seq is not the last seq applied) drops the stream and
        subscribes again, which starts with a fresh snapshot. The same ``LocalBook`` is
        yielded each time; call ``snapshot()`` to keep a picture.
        """
        replicas, market, metadata = self._replicas, self._market, self._metadata

        def subscribe() -> AsyncGenerator[market_data_pb2.BookUpdate | None, None]:
            if replicas is not None:
                return resuming_book(replicas, metadata, symbol, depth)
            return direct_book(market, metadata, symbol, depth)

        async for book in follow_book(
            symbol, subscribe, stats if stats is not None else StreamStats()
        ):
            yield book

    async def trades_stream(
        self, symbol: str, stats: StreamStats | None = None
    ) -> AsyncIterator[Trade]:
        """Public trades as they happen, in trade id order (see ``subscribe_trades``)."""
        async for trade in await self.subscribe_trades(symbol, stats):
            yield trade

    async def subscribe_trades(
        self, symbol: str, stats: StreamStats | None = None
    ) -> AsyncIterator[Trade]:
        """Subscribe now; return the trade stream once the engine has registered it.

        Trade ids are consecutive per symbol, so a jump is a gap: the missing trades are
        fetched from ListTrades and yielded first; ``stats.gaps`` counts jumps seen. In a
        cluster the stream resumes on another replica after the last trade delivered.
        """
        stats = stats if stats is not None else StreamStats()
        if self._replicas is not None:
            events = await resuming_trades(self._replicas, self._metadata, symbol, stats)
            return (Trade.from_proto(msg) async for msg in events)
        request = market_data_pb2.StreamTradesRequest(symbol=symbol)
        call = self._market.StreamTrades(request, metadata=self._metadata)
        await subscribed(call)
        return self._trades(symbol, call, stats if stats is not None else StreamStats())

    async def _trades(self, symbol: str, call: Any, stats: StreamStats) -> AsyncIterator[Trade]:
        last: int | None = None
        try:
            async for msg in call:
                stats.messages += 1
                trade = Trade.from_proto(msg)
                if last is not None and trade.trade_id <= last:
                    continue  # already delivered while filling a gap
                if last is not None and trade.trade_id != last + 1:
                    stats.gaps += 1
                    stats.resyncs += 1
                    for missed in await self.trades(symbol, limit=1000):
                        if last < missed.trade_id < trade.trade_id:
                            yield missed
                last = trade.trade_id
                yield trade
        except grpc.aio.AioRpcError as exc:
            raise from_grpc(exc) from None
        finally:
            call.cancel()


async def direct_book(
    market: Any, metadata: Metadata, symbol: str, depth: int
) -> AsyncGenerator[market_data_pb2.BookUpdate | None, None]:
    """One engine's book updates (it serves the symbol alone: the stream never moves)."""
    call = market.StreamBook(
        market_data_pb2.StreamBookRequest(symbol=symbol, depth=depth), metadata=metadata
    )
    try:
        async for msg in call:
            yield msg
    except grpc.aio.AioRpcError as exc:
        raise from_grpc(exc) from None
    finally:
        call.cancel()


async def follow_book(
    symbol: str,
    subscribe: Callable[[], AsyncGenerator[market_data_pb2.BookUpdate | None, None]],
    stats: StreamStats,
) -> AsyncIterator[LocalBook]:
    """The book-update loop of both transports: ``subscribe()`` starts a stream of updates.

    ``None`` from the stream is the one signal that it moved to another subscription
    (``resuming_book``: another replica): the copy then takes only a snapshot next, as it
    does after a gap it detected itself. A gap ends the stream and subscribes again.
    """
    book = LocalBook(symbol)
    while True:
        updates = subscribe()
        try:
            async for msg in updates:
                if msg is None:
                    stats.resyncs += 1
                    book.expect_snapshot()
                    continue
                stats.messages += 1
                try:
                    book.apply(msg)
                except GapDetected:
                    stats.gaps += 1
                    stats.resyncs += 1
                    break
                yield book
            else:
                return
        finally:
            await updates.aclose()
