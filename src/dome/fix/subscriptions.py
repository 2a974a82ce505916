"""A session's market data subscriptions: snapshots, then refreshes as the book moves.

Each subscribed symbol has a task following the SDK's gap-checked book (which resyncs
from a snapshot after a gap or a failover) and sending what changed since the picture
last sent (``market_data.level_changes``), and, when trades are asked for, a task
following the symbol's trades. The first snapshot is out before the request returns, so
it comes before anything the session's next request causes. Everything ends with the
session: FIX subscriptions do not outlive a Logout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from dome.client import Client
from dome.client.errors import DomeError
from dome.client.models import Trade
from dome.fix import market_data as md
from dome.fix import tags as t
from dome.fix.orders import Fields, Group
from dome.fix.requests import MarketDataRequest

log = logging.getLogger("dome.fix")


class Sender(Protocol):
    """Where the messages go (the account's ``pump.Outbox``)."""

    def send(self, msg_type: str, fields: Fields, groups: Sequence[Group] = ()) -> None: ...


class Subscriptions:
    """The live MarketDataRequests of one session, by MDReqID."""

    def __init__(self, client: Client, outbox: Sender) -> None:
        self._client = client
        self._outbox = outbox
        self._subscriptions: dict[str, list[asyncio.Task[None]]] = {}

    async def handle(self, request: MarketDataRequest) -> None:
        """Answer a MarketDataRequest: a snapshot per symbol, then refreshes if asked."""
        if request.refusal is not None:
            self._md_reject(request.md_req_id, request.refusal.code, request.refusal.text)
            return
        if request.subscription == t.SUBSCRIBE_DISABLE:
            for task in self._subscriptions.pop(request.md_req_id, []):
                task.cancel()
            return
        if request.md_req_id in self._subscriptions:
            self._md_reject(request.md_req_id, t.MD_REJ_DUPLICATE_ID, "MDReqID is in use")
            return
        try:
            if request.subscription == t.SUBSCRIBE_SNAPSHOT:
                for symbol in request.symbols:
                    book = await self._client.book(symbol, request.depth)
                    await self._send_snapshot(
                        request, symbol, md.picture(book.bids), md.picture(book.asks)
                    )
                return
            tasks: list[asyncio.Task[None]] = []
            self._subscriptions[request.md_req_id] = tasks
            for symbol in request.symbols:
                if t.MD_TRADE in request.entry_types:
                    trades = await self._client.subscribe_trades(symbol)
                    tasks.append(asyncio.create_task(self._follow_trades(request, trades)))
                started = asyncio.get_running_loop().create_future()
                tasks.append(asyncio.create_task(self._follow_book(request, symbol, started)))
                await started  # the snapshot is out before the next request is read
        except DomeError as exc:
            for task in self._subscriptions.pop(request.md_req_id, []):
                task.cancel()
            self._md_reject(
                request.md_req_id, t.MD_REJ_UNSUPPORTED_SUBSCRIPTION, f"exchange unavailable: {exc}"
            )

    def stop_all(self) -> None:
        """Stop every subscription (the session logged out)."""
        for tasks in self._subscriptions.values():
            for task in tasks:
                task.cancel()
        self._subscriptions.clear()

    async def _send_snapshot(
        self, request: MarketDataRequest, symbol: str, bids: md.Side, asks: md.Side
    ) -> None:
        """A MarketDataSnapshotFullRefresh, with the last trade if trades are wanted."""
        last = await self._client.trades(symbol, 1) if t.MD_TRADE in request.entry_types else []
        entries = md.snapshot_entries(bids, asks, last, request.entry_types)
        self._outbox.send(
            t.MARKET_DATA_SNAPSHOT,
            [(t.MD_REQ_ID, request.md_req_id), (t.SYMBOL, symbol)],
            [(t.NO_MD_ENTRIES, entries)],
        )

    async def _follow_book(
        self, request: MarketDataRequest, symbol: str, started: asyncio.Future[None]
    ) -> None:
        sides = request.entry_types & {t.MD_BID, t.MD_OFFER}
        sent: dict[str, md.Side] | None = None
        try:
            async for book in self._client.book_updates(symbol, request.depth):
                now = {
                    t.MD_BID: md.picture(book.bids(request.depth or None)),
                    t.MD_OFFER: md.picture(book.asks(request.depth or None)),
                }
                if sent is None or not request.incremental:
                    if sent is None or now != sent:
                        await self._send_snapshot(request, symbol, now[t.MD_BID], now[t.MD_OFFER])
                    if not started.done():
                        started.set_result(None)
                else:
                    entries = [
                        entry
                        for side in sorted(sides)
                        for entry in md.level_changes(symbol, side, sent[side], now[side])
                    ]
                    if entries:
                        self._outbox.send(
                            t.MARKET_DATA_INCREMENTAL,
                            [(t.MD_REQ_ID, request.md_req_id)],
                            [(t.NO_MD_ENTRIES, entries)],
                        )
                sent = now
        except DomeError as exc:
            log.warning("book stream ended", extra={"symbol": symbol, "error": str(exc)})
            if not started.done():
                started.set_exception(exc)

    async def _follow_trades(
        self, request: MarketDataRequest, trades: AsyncIterator[Trade]
    ) -> None:
        try:
            async for trade in trades:
                self._outbox.send(
                    t.MARKET_DATA_INCREMENTAL,
                    [(t.MD_REQ_ID, request.md_req_id)],
                    [(t.NO_MD_ENTRIES, [md.trade_entry(trade)])],
                )
        except DomeError as exc:
            log.warning("trade stream ended", extra={"error": str(exc)})

    def _md_reject(self, md_req_id: str, code: str, text: str) -> None:
        self._outbox.send(
            t.MARKET_DATA_REQUEST_REJECT,
            [(t.MD_REQ_ID, md_req_id), (t.MD_REQ_REJ_REASON, code), (t.TEXT, text)],
        )
