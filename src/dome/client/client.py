"""The async DOME client: decimal orders in, typed results out, over grpc.aio.

One ``Client`` holds one channel to one engine and the instruments it lists. Every order
gets a client order id (generated unless given) before the first attempt, so a call that
failed with UNAVAILABLE can be retried with the same id until a deadline: the exchange
answers a repeated id with the original result and never books a second order.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar

import grpc

from dome.client.errors import from_grpc, from_status
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
from dome.client.wire import Encoder
from dome.core.types import OrderType, SelfTradePrevention, Side
from dome.instruments import InstrumentSpec
from dome.v1 import market_data_pb2, market_data_pb2_grpc, trading_pb2, trading_pb2_grpc

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


class Client:
    """Async client of one DOME engine.

    ``timeout`` bounds each attempt; ``retry_deadline`` bounds all attempts of a call that
    is safe to repeat (submits, by client order id, and reads). Cancels and amends are not
    retried: a lost ack would make the repeat answer UNKNOWN_ORDER or AMEND_NO_CHANGE.
    ``check=False`` sends prices and quantities as given and lets the exchange judge.
    """

    def __init__(
        self,
        target: str,
        token: str | None = None,
        *,
        timeout: float = 5.0,
        retry_deadline: float = 10.0,
        check: bool = True,
        id_prefix: str | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.retry_deadline = retry_deadline
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._channel = grpc.aio.insecure_channel(target)
        self._trading = trading_pb2_grpc.TradingServiceStub(self._channel)
        self._market = market_data_pb2_grpc.MarketDataServiceStub(self._channel)
        self._encoder = Encoder({}, check=check)
        self._loaded = False
        self._id_prefix = id_prefix or secrets.token_hex(6)
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Load the instruments; raises ``UnavailableError`` if the engine cannot be reached."""
        await self.instruments(refresh=True)

    async def close(self) -> None:
        await self._channel.close(None)

    def next_client_order_id(self) -> str:
        """A fresh id, unique per client instance (random prefix, counter)."""
        return f"{self._id_prefix}-{next(self._ids)}"

    # -- reference data -------------------------------------------------------------

    async def instruments(self, refresh: bool = False) -> dict[str, InstrumentSpec]:
        """Every instrument the engine trades, by symbol."""
        if refresh or not self._loaded:
            resp = await self._unary(
                self._market.ListInstruments, market_data_pb2.ListInstrumentsRequest(), True
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
        resp = await self._unary(self._trading.SubmitOrder, request, True)
        return OrderResult.from_proto(resp)

    async def cancel_order(self, symbol: str, order_id: int) -> OrderResult:
        """Cancel the open quantity of one of the caller's orders."""
        request = self._encoder.cancel(CancelOrder(symbol, order_id))
        return OrderResult.from_proto(await self._unary(self._trading.CancelOrder, request, False))

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
        return OrderResult.from_proto(await self._unary(self._trading.AmendOrder, request, False))

    async def submit_orders(
        self, actions: Iterable[Action], *, batch_size: int = 100
    ) -> list[OrderResult]:
        """Bulk flow over the SubmitOrders stream: one result per action, in order.

        Actions travel in batches of ``batch_size`` (the engine folds a batch into one log
        write). A batch of submits only is retried on UNAVAILABLE; the ids make that safe.
        """
        await self._ensure_instruments()
        actions = list(actions)
        wire = [self._action(a) for a in actions]
        batches = [
            trading_pb2.OrderBatch(batch_id=i, actions=wire[start : start + batch_size])
            for i, start in enumerate(range(0, len(wire), batch_size))
        ]
        retry = all(isinstance(a, NewOrder) for a in actions)

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

    async def open_orders(self, symbol: str) -> list[OpenOrder]:
        """The caller's open orders on ``symbol``, in book priority order."""
        request = trading_pb2.ListOpenOrdersRequest(symbol=symbol)
        resp = await self._unary(self._trading.ListOpenOrders, request, True)
        return [OpenOrder.from_proto(o) for o in resp.orders]

    # -- market data ----------------------------------------------------------------

    async def book(self, symbol: str, depth: int = 0) -> BookSnapshot:
        """A depth snapshot (engine default depth when 0) with the seq it reflects."""
        request = market_data_pb2.GetBookRequest(symbol=symbol, depth=depth)
        return BookSnapshot.from_proto(await self._unary(self._market.GetBook, request, True))

    async def trades(self, symbol: str, limit: int = 0) -> list[Trade]:
        """The most recent trades, oldest first (engine default count when 0)."""
        request = market_data_pb2.ListTradesRequest(symbol=symbol, limit=limit)
        resp = await self._unary(self._market.ListTrades, request, True)
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
        self, symbols: Iterable[str] = (), stats: StreamStats | None = None
    ) -> AsyncIterator[Execution]:
        """Subscribe now; return the report stream once the engine has registered it.

        Every report of a command sequenced after this returns is in the stream.
        """
        request = trading_pb2.StreamExecutionsRequest(symbols=list(symbols))
        call = self._trading.StreamExecutions(request, metadata=self._metadata)
        await _subscribed(call)
        return self._execution_reports(call, stats if stats is not None else StreamStats())

    async def _execution_reports(self, call: Any, stats: StreamStats) -> AsyncIterator[Execution]:
        last: dict[str, int] = {}
        try:
            async for msg in call:
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
        fetched from ListTrades and yielded first; ``stats.gaps`` counts jumps seen.
        """
        request = market_data_pb2.StreamTradesRequest(symbol=symbol)
        call = self._market.StreamTrades(request, metadata=self._metadata)
        await _subscribed(call)
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
        self, method: Callable[..., Awaitable[_Resp]], request: _Req, retry: bool
    ) -> _Resp:
        async def attempt(req: _Req, metadata: Any, limit: float) -> _Resp:
            return await method(req, metadata=metadata, timeout=limit)

        return await self._attempts(attempt, request, retry, self.timeout)

    async def _attempts(
        self,
        attempt: Callable[[_Req, Any, float], Awaitable[_Resp]],
        request: _Req,
        retry: bool,
        per_attempt: float,
    ) -> _Resp:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_deadline
        delay = 0.05
        while True:
            left = max(deadline - loop.time(), 0.05) if retry else per_attempt
            try:
                return await attempt(request, self._metadata, min(per_attempt, left))
            except grpc.aio.AioRpcError as exc:
                retryable = retry and exc.code() == grpc.StatusCode.UNAVAILABLE
                if not retryable or loop.time() + delay >= deadline:
                    raise from_grpc(exc) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


def _fields(inst: Any) -> dict[str, str]:
    names = ("symbol", "tick_size", "lot_size", "min_qty", "max_qty", "min_price", "max_price")
    return {name: getattr(inst, name) for name in names}


async def _subscribed(call: Any) -> None:
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
