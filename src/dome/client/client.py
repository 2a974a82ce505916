"""The async DOME client: decimal orders in, typed results out, over grpc.aio.

One ``Client`` holds one channel to one engine and the instruments it lists, or, given
a ``discovery`` address, follows a cluster's placement and sends each order straight to
its symbol's primary (``routing``). Every order gets a client order id (generated unless
given) before the first attempt, so a call that failed with UNAVAILABLE (or, in a
cluster, FAILED_PRECONDITION from an engine that is no longer primary) can be retried
with the same id until a deadline: the exchange answers a repeated id with the original
result and never books a second order. In a cluster, streams move to another replica
when theirs dies and resume where they were (``resuming``).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import grpc

from dome.client.local import DEFAULT_DATA_DIR, local_discovery, local_target
from dome.client.models import (
    Action,
    AmendOrder,
    BookSnapshot,
    CancelOrder,
    HistoryPage,
    Limits,
    NewOrder,
    OpenOrder,
    OrderResult,
    Trade,
    spec_from_proto,
)
from dome.client.portfolio import ExchangePositions, FeeSchedule, Portfolio
from dome.client.resuming import Replicas
from dome.client.retry_policy import (
    MAX_IN_FLIGHT,
    NOT_APPLIED,
    REFUSED,
    REROUTE,
    marked,
)
from dome.client.routing import Router
from dome.client.sessions import DisconnectSession
from dome.client.streams import Streams
from dome.client.transport import Transport
from dome.client.wire import Encoder
from dome.core.types import OrderType, SelfTradePrevention, Side
from dome.instrument_spec import InstrumentSpec
from dome.tls import TlsFiles, open_channel
from dome.v1 import market_data_pb2, trading_pb2

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


class Client(Streams):
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
    TOO_LATE_TO_CANCEL (UNKNOWN_ORDER for an order the exchange no longer remembers)
    and ``OrderResult.retried`` set, meaning the order is no longer open
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
        metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._id_prefix = id_prefix or secrets.token_hex(6)
        router = Router(discovery, client_id or self._id_prefix, tls=tls) if discovery else None
        self._transport = Transport(
            open_channel(target, tls) if target is not None else None,
            router,
            metadata,
            timeout=timeout,
            retry_deadline=retry_deadline,
            max_in_flight=max_in_flight,
        )
        # The names the streams (``Streams``) read; the transport owns each.
        self._router = router
        self._channel = self._transport.channel
        self._metadata = metadata
        self._trading: Any = self._transport.trading
        self._market: Any = self._transport.market
        self._replicas = Replicas(router, retry_deadline) if router else None
        self._encoder = Encoder({}, check=check)
        self._loaded = False
        self._ids = itertools.count(1)
        self._session: DisconnectSession | None = None
        #: What the engine allows (rate, streams, message size, calls in progress), as
        #: it said when the instruments were loaded (``connect``); None before.
        self.limits: Limits | None = None

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

    @property
    def timeout(self) -> float:
        """Seconds one attempt may take."""
        return self._transport.timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self._transport.timeout = seconds

    @property
    def retry_deadline(self) -> float:
        """Seconds all attempts of one call may take."""
        return self._transport.retry_deadline

    @retry_deadline.setter
    def retry_deadline(self, seconds: float) -> None:
        self._transport.retry_deadline = seconds

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
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._channel is not None:
            await self._channel.close(None)
        if self._router is not None:
            await self._router.close()

    async def cancel_on_disconnect(self, grace: float = 2.0) -> str:
        """Have the exchange cancel this account's open orders if this client goes away.

        Opens a session on every engine (``dome.client.sessions``) and returns once it is
        open on all; from then on, when this client dies or loses the network, or calls
        ``close``, each engine cancels the account's open orders on the symbols it
        leads after ``grace`` seconds (up to 60), unless the client is back within it.
        Survives a failover: every engine holds the session. Returns the session id.
        """
        if self._session is not None:
            return self._session.session_id
        router = self._router

        async def changed(within: float) -> None:
            if router is None:
                await asyncio.sleep(within)
            else:
                await router.wait_for_change(router.version, within)

        def engines() -> list[str]:
            return [self.target] if router is None else router.engines()

        def channel(address: str) -> grpc.aio.Channel:
            if router is None:
                assert self._channel is not None
                return self._channel
            return router.channel(address)

        session = DisconnectSession(
            f"{self._id_prefix}-cod", grace, self._metadata, engines, channel, changed
        )
        await session.start(self.retry_deadline)
        self._session = session
        return session.session_id

    def next_client_order_id(self) -> str:
        """A fresh id, unique per client instance (random prefix, counter)."""
        return f"{self._id_prefix}-{next(self._ids)}"

    # -- reference data -------------------------------------------------------------

    async def instruments(self, refresh: bool = False) -> dict[str, InstrumentSpec]:
        """Every instrument the engine trades, by symbol."""
        if refresh or not self._loaded:
            resp = await self._transport.read(
                None, "ListInstruments", market_data_pb2.ListInstrumentsRequest()
            )
            specs = {}
            for inst in resp.instruments:
                specs[inst.symbol] = spec_from_proto(inst)
            self._encoder.specs = specs
            self.limits = Limits.from_proto(resp.limits)
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
        resp, _ = await self._transport.call(symbol, "SubmitOrder", request, REROUTE)
        return OrderResult.from_proto(resp)

    async def cancel_order(
        self, symbol: str, order_id: int = 0, *, client_order_id: str | None = None
    ) -> OrderResult:
        """Cancel the open quantity of one of the caller's orders, named by its exchange
        ``order_id`` or by its ``client_order_id``.

        REJECTED with TOO_LATE_TO_CANCEL: the order was the caller's and is filled or
        cancelled already; UNKNOWN_ORDER: no order of the caller's has (or, long ago,
        had) this id.
        """
        if not order_id and not client_order_id:
            raise ValueError("cancel_order needs an order_id or a client_order_id")
        request = self._encoder.cancel(CancelOrder(symbol, order_id, client_order_id or ""))
        resp, uncertain = await self._transport.call(
            symbol, "CancelOrder", request, REFUSED, routed=REROUTE
        )
        return marked(OrderResult.from_proto(resp), uncertain)

    async def cancel_all(self, symbol: str | None = None) -> list[OrderResult]:
        """Cancel every open order of the account (on ``symbol`` only, if given) on the
        exchange side, in one call per engine: one result per order cancelled.

        The engine cancels the orders open when the call reaches it (orders still in
        flight are not covered). Safe to repeat, so retried like a read; in a cluster,
        one call per symbol goes to its primary, concurrently.
        """
        if self._router is None:
            request = trading_pb2.CancelAllOrdersRequest(symbol=symbol or "")
            resp = await self._transport.unary(self._trading.CancelAllOrders, request, REROUTE)
            return [OrderResult.from_proto(r) for r in resp.results]
        symbols = [symbol] if symbol else sorted(await self.instruments())

        async def one(s: str) -> list[OrderResult]:
            request = trading_pb2.CancelAllOrdersRequest(symbol=s)
            resp, _ = await self._transport.routed_unary(s, "CancelAllOrders", request, REROUTE)
            return [OrderResult.from_proto(r) for r in resp.results]

        return [r for rs in await asyncio.gather(*(one(s) for s in symbols)) for r in rs]

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
        resp, _ = await self._transport.call(
            symbol, "AmendOrder", request, REFUSED, routed=NOT_APPLIED
        )
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
        return await self._transport.bulk(actions, wire, batch_size)

    async def positions(self, symbol: str, book: str = "") -> ExchangePositions:
        """The exchange's record of the account's positions on ``symbol``: one per book
        (the part of a client order id before its first ``/``; ``BotRunner`` books each
        bot under its tag), from every fill since the symbol began, unlike the history.
        ``book`` non-empty: that book only."""
        request = trading_pb2.GetPositionsRequest(symbol=symbol, book=book)
        return ExchangePositions.from_proto(
            await self._transport.read(symbol, "GetPositions", request)
        )

    async def portfolio(
        self,
        symbols: Iterable[str] | None = None,
        *,
        book: str = "",
        fees: Mapping[str, FeeSchedule] | None = None,
    ) -> Portfolio:
        """``book``'s positions and PnL on ``symbols`` (every symbol if None) from the
        exchange's record (``positions``), fees booked by ``fees``. The default book
        holds orders whose client order id has no ``/``, as ``next_client_order_id``'s."""
        wanted = sorted(await self.instruments()) if symbols is None else list(symbols)
        book_of = Portfolio(dict(fees or {}))
        for symbol in wanted:
            book_of.seed(symbol, (await self.positions(symbol, book)).book(book))
        return book_of

    async def history_page(self, symbol: str, from_seq: int = 0, limit: int = 0) -> HistoryPage:
        """One page of the account's own reports on ``symbol`` from ``from_seq`` (0: the
        oldest the engine holds), oldest first: fills and every state change, closed
        orders' final status included. ``HistoryUnavailableError`` if the engine no
        longer holds reports from ``from_seq``; ``limit`` 0 is the engine's page (1,000).
        """
        request = trading_pb2.GetHistoryRequest(symbol=symbol, from_seq=from_seq, limit=limit)
        return HistoryPage.from_proto(await self._transport.read(symbol, "GetHistory", request))

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
        resp = await self._transport.read(symbol, "ListOpenOrders", request)
        return [OpenOrder.from_proto(o, symbol) for o in resp.orders]

    # -- market data ----------------------------------------------------------------

    async def book(self, symbol: str, depth: int = 0) -> BookSnapshot:
        """A depth snapshot (engine default depth when 0) with the seq it reflects."""
        request = market_data_pb2.GetBookRequest(symbol=symbol, depth=depth)
        return BookSnapshot.from_proto(await self._transport.read(symbol, "GetBook", request))

    async def trades(self, symbol: str, limit: int = 0) -> list[Trade]:
        """The most recent trades, oldest first (engine default count when 0)."""
        request = market_data_pb2.ListTradesRequest(symbol=symbol, limit=limit)
        resp = await self._transport.read(symbol, "ListTrades", request)
        return [Trade.from_proto(t) for t in resp.trades]

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
