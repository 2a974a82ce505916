"""The async DOME client: decimal orders in, typed results out, over grpc.aio.

One ``Client`` holds one channel to one engine and the instruments it lists, or, given
a ``discovery`` address, follows a cluster's placement and sends each order straight to
its symbol's primary (``routing``). Every order gets a client order id (generated unless
given) before the first attempt, so a call that failed with UNAVAILABLE (or, in a
cluster, FAILED_PRECONDITION from an engine that is no longer primary) can be retried
with the same id until a deadline: the exchange answers a repeated id with the original
result and never books a second order. In a cluster, streams move to another replica
when theirs dies and resume where they were (``failover``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import grpc

from dome.client.errors import UnavailableError, from_grpc
from dome.client.failover import ExecutionFeed, Replicas, resuming_book, resuming_trades, subscribed
from dome.client.local import DEFAULT_DATA_DIR, local_discovery, local_target
from dome.client.local_book import GapDetected, LocalBook
from dome.client.models import (
    Action,
    AmendOrder,
    BookSnapshot,
    CancelOrder,
    Execution,
    NewOrder,
    OpenOrder,
    OrderResult,
    StreamStats,
    Trade,
)
from dome.client.routing import Router
from dome.client.wire import Encoder
from dome.core.types import OrderType, RejectReason, SelfTradePrevention, Side
from dome.instruments import InstrumentSpec
from dome.tls import TlsFiles, open_channel
from dome.v1 import market_data_pb2, market_data_pb2_grpc, trading_pb2, trading_pb2_grpc

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")

_UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
_NOT_PRIMARY = grpc.StatusCode.FAILED_PRECONDITION
#: The server shed the call (a full pending queue) or the transport dropped it.
_CANCELLED = grpc.StatusCode.CANCELLED
#: Refused at admission (rate, message size, a full sequencer): surely not applied.
_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
#: Failures after which a call that is safe to repeat (a submit, by its client order id;
#: a read) is tried again, in a cluster on the (next) primary.
_REROUTE = frozenset({_UNAVAILABLE, _NOT_PRIMARY, _CANCELLED, _EXHAUSTED})
#: An amend is repeated only where it surely was not applied: re-applying "open quantity
#: N" after a fill in between would reopen quantity that already traded.
_NOT_APPLIED = frozenset({_NOT_PRIMARY, _EXHAUSTED})
#: Where a single engine answers a cancel or amend: repeated only if refused at admission.
_REFUSED = frozenset({_EXHAUSTED})
#: Failures after which an earlier attempt may have been applied.
_MAYBE_APPLIED = frozenset({_UNAVAILABLE, _CANCELLED})
#: Unary calls one client has in flight at most. A gRPC server queues the calls its
#: application has not picked up yet and sheds those beyond ``grpc.server.max_pending_requests``
#: (1,000 by default) with CANCELLED; one asyncio engine picks them up one at a time, so
#: a burst of 1,500 concurrent submits from one client lost some of them that way.
MAX_IN_FLIGHT = 256


class Client:
    """Async client of one DOME engine.

    ``timeout`` bounds each attempt; ``retry_deadline`` bounds all attempts of a call that
    is safe to repeat (submits, by client order id, and reads). Cancels and amends are
    retried only after RESOURCE_EXHAUSTED (refused at admission): after a lost ack the
    repeat would answer UNKNOWN_ORDER or AMEND_NO_CHANGE.
    ``check=False`` sends prices and quantities as given and lets the exchange judge.

    ``Client(discovery="host:port", token=...)`` connects to a cluster instead of one
    engine: ``connect`` asks discovery for a home engine (``AssignClient``) and follows
    the placement (``WatchPlacement``) in the background. Each order then goes to its
    symbol's primary; on UNAVAILABLE or FAILED_PRECONDITION it waits for a newer
    placement (or a short backoff) and is retried until ``retry_deadline``, and while
    the symbol has no primary (an election) the call waits for one. Submits are
    retried with the same client order id, so a retry after a failover answers the
    original result (``duplicate``). Cancels are retried too: if an attempt whose
    answer was lost had applied the cancel, the retry answers REJECTED with
    UNKNOWN_ORDER and ``OrderResult.retried`` set, meaning the order is no longer open
    (cancelled by the lost attempt, or filled; the execution stream tells which).
    Amends are retried only after FAILED_PRECONDITION (surely not applied); after
    UNAVAILABLE they raise ``UnavailableError`` and the caller checks ``open_orders``.
    Streams move to another live replica when theirs dies and resume without gap or
    repeat. ``client_id`` names the client to discovery (default: the id prefix).

    Calls that are safe to repeat are also retried, with a doubling backoff, after
    CANCELLED (the server shed them) and RESOURCE_EXHAUSTED (rate limit: 50,000
    commands/s per account by default). At most ``max_in_flight`` unary calls are on
    the wire at once; the rest wait in the client. ``connect`` checks the token: a
    wrong one raises ``AuthError`` there, not at the first order. See
    ``dome.client.errors`` for which failures raise and which come back as rejects.
    """

    def __init__(
        self,
        target: str | None = None,
        token: str | None = None,
        *,
        discovery: str | None = None,
        client_id: str | None = None,
        timeout: float = 5.0,
        retry_deadline: float = 10.0,
        check: bool = True,
        id_prefix: str | None = None,
        tls: TlsFiles | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        if (target is None) == (discovery is None):
            raise ValueError("Client needs exactly one of target (an engine) or discovery")
        self.target = target or ""
        self.discovery = discovery
        self.timeout = timeout
        self.retry_deadline = retry_deadline
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._id_prefix = id_prefix or secrets.token_hex(6)
        self._router = (
            Router(discovery, client_id or self._id_prefix, tls=tls) if discovery else None
        )
        self._replicas = Replicas(self._router, retry_deadline) if self._router else None
        self._channel = open_channel(target, tls) if target is not None else None
        # In a cluster every call picks its engine's stubs from the router's pool instead.
        self._trading: Any = self._channel and trading_pb2_grpc.TradingServiceStub(self._channel)
        self._market: Any = self._channel and market_data_pb2_grpc.MarketDataServiceStub(
            self._channel
        )
        self._encoder = Encoder({}, check=check)
        self._loaded = False
        self._ids = itertools.count(1)
        self._window = asyncio.Semaphore(max_in_flight)

    @classmethod
    def local(
        cls, token: str | None = None, *, data_dir: str | Path = DEFAULT_DATA_DIR, **options: Any
    ) -> Client:
        """A client of the exchange ``dome up`` runs here, through its discovery.

        Found the way ``local_target`` finds an engine (``DATA_DIR/cluster.json``), so
        orders follow each symbol's primary and ride a failover. Falls back to the
        first engine where the file names no discovery. ``options`` are ``Client``'s.
        """
        discovery = local_discovery(data_dir)
        if discovery is not None:
            return cls(discovery=discovery, token=token, **options)
        return cls(local_target(data_dir), token, **options)

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Load the instruments and check the token.

        Raises ``UnavailableError`` if the engine cannot be reached and ``AuthError`` if
        it refuses the token. In a cluster, first ask discovery for a home engine and
        start following the placement.
        """
        if self._router is not None:
            loop = asyncio.get_running_loop()
            await self._router.start(loop.time() + self.retry_deadline)
        specs = await self.instruments(refresh=True)
        if self._metadata and specs:
            # Market data needs no token; this read does, so a wrong one fails here.
            await self.open_orders(min(specs))

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
        if self._router is not None:
            await self._router.close()

    def next_client_order_id(self) -> str:
        """A fresh id, unique per client instance (random prefix, counter)."""
        return f"{self._id_prefix}-{next(self._ids)}"

    # -- reference data -------------------------------------------------------------

    async def instruments(self, refresh: bool = False) -> dict[str, InstrumentSpec]:
        """Every instrument the engine trades, by symbol."""
        if refresh or not self._loaded:
            resp = await self._read(
                None, "ListInstruments", market_data_pb2.ListInstrumentsRequest()
            )
            specs = {}
            for inst in resp.instruments:
                raw = {k: v for k, v in _fields(inst).items() if v != ""}
                specs[inst.symbol] = InstrumentSpec.from_dict(raw)
            self._encoder.specs = specs
            self._loaded = True
        return self._encoder.specs

    async def spec(self, symbol: str) -> InstrumentSpec:
        """The rules of one symbol; ``UnknownSymbolError`` if not traded here."""
        await self.instruments()
        return self._encoder.spec(symbol)

    # -- order entry ----------------------------------------------------------------

    async def submit_order(
        self,
        symbol: str,
        side: Side | str,
        qty: Decimal | str,
        price: Decimal | str | None = None,
        type: OrderType | str = OrderType.LIMIT,
        *,
        client_order_id: str | None = None,
        stp: SelfTradePrevention | None = None,
    ) -> OrderResult:
        """Place one order; retried on UNAVAILABLE with the same client order id."""
        await self._ensure_instruments()
        order = NewOrder(symbol, side, qty, price, type, client_order_id, stp)
        request = self._encoder.submit(order, client_order_id or self.next_client_order_id())
        if self._router is None:
            resp = await self._unary(self._trading.SubmitOrder, request, _REROUTE)
        else:
            resp, _ = await self._routed_unary(symbol, "SubmitOrder", request, _REROUTE)
        return OrderResult.from_proto(resp)

    async def cancel_order(self, symbol: str, order_id: int) -> OrderResult:
        """Cancel the open quantity of one of the caller's orders."""
        request = self._encoder.cancel(CancelOrder(symbol, order_id))
        if self._router is None:
            return OrderResult.from_proto(
                await self._unary(self._trading.CancelOrder, request, _REFUSED)
            )
        resp, uncertain = await self._routed_unary(symbol, "CancelOrder", request, _REROUTE)
        return _marked(OrderResult.from_proto(resp), uncertain)

    async def amend_order(
        self,
        symbol: str,
        order_id: int,
        *,
        qty: Decimal | str | None = None,
        price: Decimal | str | None = None,
    ) -> OrderResult:
        """Change open quantity and/or price; ``None`` keeps the current value."""
        await self._ensure_instruments()
        request = self._encoder.amend(AmendOrder(symbol, order_id, qty, price))
        if self._router is None:
            return OrderResult.from_proto(
                await self._unary(self._trading.AmendOrder, request, _REFUSED)
            )
        resp, _ = await self._routed_unary(symbol, "AmendOrder", request, _NOT_APPLIED)
        return OrderResult.from_proto(resp)

    async def submit_orders(
        self, actions: Iterable[Action], *, batch_size: int = 100
    ) -> list[OrderResult]:
        """Bulk flow over the SubmitOrders stream: one result per action, in order.

        Actions travel in batches of ``batch_size`` (the engine folds a batch into one log
        write). A batch of submits only is retried on UNAVAILABLE; the ids make that safe.
        In a cluster the actions are split per symbol, each share goes to its primary
        (shares run concurrently), and a share is retried like the single calls: only
        its unanswered batches are sent again; one holding an amend is retried only
        after FAILED_PRECONDITION; cancel results after a lost answer carry ``retried``.
        """
        await self._ensure_instruments()
        actions = list(actions)
        wire = [self._action(a) for a in actions]
        if self._router is not None:
            return await self._routed_bulk(actions, wire, batch_size)
        batches = [
            trading_pb2.OrderBatch(batch_id=i, actions=wire[start : start + batch_size])
            for i, start in enumerate(range(0, len(wire), batch_size))
        ]
        retry = _REROUTE if all(isinstance(a, NewOrder) for a in actions) else frozenset()

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

            call = self._trading.SubmitOrders(requests(), metadata=metadata, timeout=limit)
            by_batch: dict[int, list[OrderResult]] = {}
            async for resp in call:
                by_batch[resp.batch_id] = [OrderResult.from_proto(r) for r in resp.results]
            return [r for b in batches for r in by_batch.get(b.batch_id, [])]

        # A stream needs longer than one call; allow a little per batch on top.
        return await self._attempts(attempt, None, retry, self.timeout + 0.1 * len(batches))

    async def open_orders(self, symbol: str | None = None) -> list[OpenOrder]:
        """The caller's open orders on ``symbol`` (every symbol if None), in priority order.

        Across symbols the lists come one per symbol, in symbol order; each order's
        ``symbol`` says where it rests.
        """
        if symbol is None:
            symbols = sorted(await self.instruments())
            lists = await asyncio.gather(*(self.open_orders(s) for s in symbols))
            return [o for orders in lists for o in orders]
        request = trading_pb2.ListOpenOrdersRequest(symbol=symbol)
        resp = await self._read(symbol, "ListOpenOrders", request)
        return [OpenOrder.from_proto(o, symbol) for o in resp.orders]

    # -- market data ----------------------------------------------------------------

    async def book(self, symbol: str, depth: int = 0) -> BookSnapshot:
        """A depth snapshot (engine default depth when 0) with the seq it reflects."""
        request = market_data_pb2.GetBookRequest(symbol=symbol, depth=depth)
        return BookSnapshot.from_proto(await self._read(symbol, "GetBook", request))

    async def trades(self, symbol: str, limit: int = 0) -> list[Trade]:
        """The most recent trades, oldest first (engine default count when 0)."""
        request = market_data_pb2.ListTradesRequest(symbol=symbol, limit=limit)
        resp = await self._read(symbol, "ListTrades", request)
        return [Trade.from_proto(t) for t in resp.trades]

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
        stats = stats if stats is not None else StreamStats()
        book = LocalBook(symbol)
        if self._replicas is not None:
            async for local in self._cluster_book(symbol, depth, book, stats):
                yield local
            return
        request = market_data_pb2.StreamBookRequest(symbol=symbol, depth=depth)
        while True:
            call = self._market.StreamBook(request, metadata=self._metadata)
            try:
                async for msg in call:
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
            except grpc.aio.AioRpcError as exc:
                raise from_grpc(exc) from None
            finally:
                call.cancel()

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

    async def _cluster_book(
        self, symbol: str, depth: int, book: LocalBook, stats: StreamStats
    ) -> AsyncIterator[LocalBook]:
        assert self._replicas is not None
        while True:
            updates = resuming_book(self._replicas, self._metadata, symbol, depth)
            try:
                async for msg in updates:
                    if msg is None:
                        stats.resyncs += 1  # moved replica: a snapshot comes next
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

    # -- cluster routing ------------------------------------------------------------

    async def _read(self, symbol: str | None, method: str, request: Any) -> Any:
        """A read that is safe to repeat: the symbol's primary (home engine if no symbol)."""
        if self._router is None:
            stub = self._trading if hasattr(self._trading, method) else self._market
            return await self._unary(getattr(stub, method), request, _REROUTE)
        resp, _ = await self._routed_unary(symbol, method, request, _REROUTE)
        return resp

    async def _routed_unary(
        self, symbol: str | None, method: str, request: Any, retry_on: frozenset[grpc.StatusCode]
    ) -> tuple[Any, bool]:
        async def attempt(address: str, limit: float, _: bool) -> Any:
            channel = self._pool(address)
            stub: Any = trading_pb2_grpc.TradingServiceStub(channel)
            if not hasattr(stub, method):
                stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
            async with self._window:
                return await getattr(stub, method)(request, metadata=self._metadata, timeout=limit)

        return await self._routed(symbol, attempt, retry_on, self.timeout)

    def _pool(self, address: str) -> grpc.aio.Channel:
        assert self._router is not None
        return self._router.channel(address)

    async def _routed(
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
        router = self._router
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
                    uncertain = uncertain or exc.code() in _MAYBE_APPLIED
                await router.wait_for_change(seen, delay)
                delay = min(delay * 2, 1.0)
            elif left <= 0:
                raise UnavailableError(
                    _UNAVAILABLE, f"{symbol}: no primary within {self.retry_deadline:g}s"
                )
            else:
                await router.wait_for_change(seen, left)

    async def _routed_bulk(
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
                stub = trading_pb2_grpc.TradingServiceStub(self._pool(address))

                async def requests() -> AsyncIterator[trading_pb2.OrderBatch]:
                    await call.initial_metadata()  # see submit_orders: grpc/grpc#36066
                    if call.done():
                        return
                    for batch in pending:
                        yield batch

                call = stub.SubmitOrders(requests(), metadata=self._metadata, timeout=limit)
                async for resp in call:
                    done = [OrderResult.from_proto(r) for r in resp.results]
                    answered[resp.batch_id] = (done, uncertain)

            amends = any(isinstance(actions[i], AmendOrder) for i in indexes)
            per_attempt = self.timeout + 0.1 * len(batches)
            await self._routed(symbol, attempt, _NOT_APPLIED if amends else _REROUTE, per_attempt)
            for b, chunk in enumerate(chunks):
                done, uncertain = answered.get(b, ([], False))
                for i, result in zip(chunk, done, strict=False):
                    is_cancel = isinstance(actions[i], CancelOrder)
                    results[i] = _marked(result, uncertain and is_cancel)

        await asyncio.gather(*(send(symbol, idx) for symbol, idx in shares.items()))
        return [r for r in results if r is not None]

    # -- plumbing -------------------------------------------------------------------

    async def _ensure_instruments(self) -> None:
        if self._encoder.check and not self._loaded:
            await self.instruments()

    def _action(self, action: Action) -> trading_pb2.OrderAction:
        if isinstance(action, NewOrder):
            cid = action.client_order_id or self.next_client_order_id()
            return trading_pb2.OrderAction(submit=self._encoder.submit(action, cid))
        if isinstance(action, CancelOrder):
            return trading_pb2.OrderAction(cancel=self._encoder.cancel(action))
        return trading_pb2.OrderAction(amend=self._encoder.amend(action))

    async def _unary(
        self,
        method: Callable[..., Awaitable[_Resp]],
        request: _Req,
        retry_on: frozenset[grpc.StatusCode],
    ) -> _Resp:
        async def attempt(req: _Req, metadata: Any, limit: float) -> _Resp:
            async with self._window:
                return await method(req, metadata=metadata, timeout=limit)

        return await self._attempts(attempt, request, retry_on, self.timeout)

    async def _attempts(
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
                return await attempt(request, self._metadata, min(per_attempt, left))
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in retry_on or loop.time() + delay >= deadline:
                    raise from_grpc(exc) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


def _fields(inst: Any) -> dict[str, str]:
    names = ("symbol", "tick_size", "lot_size", "min_qty", "max_qty", "min_price", "max_price")
    return {name: getattr(inst, name) for name in names}


def _marked(result: OrderResult, uncertain: bool) -> OrderResult:
    """Flag a cancel's answer that may follow an applied attempt whose ack was lost."""
    if uncertain and result.reject_reason is RejectReason.UNKNOWN_ORDER:
        return dataclasses.replace(result, retried=True)
    return result
