"""Public market data of one symbol: level updates, trades and the recent-trades ring.

A batch's book update lists every level it touched with its absolute quantity after
the batch (read back from the book, so it cannot drift from it). One update is
published per batch, even an empty one, so the ``prev_seq`` chain is one chain per
symbol: a snapshot taken between batches has the seq of the last update, and the next
update's ``prev_seq`` equals it for every subscriber.

The recent-trades ring serves ``ListTrades`` and lets a trade stream resume after a
given trade id (``trades_after``): trade ids are consecutive per symbol and the same on
every replica, so a subscriber coming from a dead replica continues without a gap. It
holds each trade as a ``HeldTrade`` (a tuple), and a ``TradeEvent`` message is built only
for a trade stream that is listening or a call that reads the ring: building one per
trade cost more than matching it did.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from dome.core.book_api import Book
from dome.core.events import OrderAmended, OrderCancelled, OrderRested, Trade
from dome.core.types import Side
from dome.engine import codec
from dome.engine.applier import Applied
from dome.engine.errors import OutOfRange
from dome.engine.feeds import Topic
from dome.instrument_spec import InstrumentSpec
from dome.v1 import market_data_pb2 as md

#: Trades kept for ``ListTrades`` and for resuming trade streams.
DEFAULT_TRADE_RING = 10_000


class HeldTrade(NamedTuple):
    """A trade in the ring: the core's event and the time of the command that made it."""

    trade_id: int
    trade: Trade
    timestamp_ns: int


class MarketFeed:
    """Book updates and trades derived from one symbol's batches."""

    def __init__(
        self,
        spec: InstrumentSpec,
        book: Book,
        buffer: int,
        trade_ring: int = DEFAULT_TRADE_RING,
        *,
        units: codec.Units | None = None,
    ) -> None:
        self.spec = spec
        self.units = units or codec.Units(spec)
        self.book = book
        self.book_topic: Topic[str, md.BookUpdate] = Topic(buffer)
        self.trade_topic: Topic[str, md.TradeEvent] = Topic(buffer)
        self.recent_trades: deque[HeldTrade] = deque(maxlen=trade_ring)
        #: Seq of the last published update (and so of any snapshot taken now).
        self.seq = book.last_seq
        #: Prices with open quantity, per side: kept from touched levels for depth metrics.
        self.levels: dict[Side, set[int]] = {Side.BUY: set(), Side.SELL: set()}
        for order in book.orders():
            self.levels[order.side].add(order.price)

    def publish(self, batch: Sequence[Applied], match_seconds: float | None) -> None:
        """The market-data sink (``dome.engine.applier.Sink``): the update's seq is the
        batch's last (a duplicate moves the log on, not the book)."""
        if batch:
            self.on_batch(batch, batch[-1].cmd.seq)

    def on_batch(self, batch: Sequence[Applied], last_seq: int) -> int:
        """Publish the batch's level changes and trades; returns how many trades."""
        touched: set[tuple[Side, int]] = set()
        add = touched.add
        trades = 0
        symbol = self.spec.symbol
        units = self.units
        hold = self.recent_trades.append
        listened = self.trade_topic.has(symbol)
        for applied in batch:
            if applied.result.duplicate:
                continue
            for ev in applied.result.events:
                kind = type(ev)
                if kind is Trade:
                    assert isinstance(ev, Trade)
                    trades += 1
                    add((Side.SELL if ev.aggressor == Side.BUY else Side.BUY, ev.price))
                    ts = applied.cmd.timestamp_ns
                    hold(HeldTrade(ev.trade_id, ev, ts))
                    if listened:
                        self.trade_topic.publish(symbol, codec.trade_event(units, ev, ts))
                elif kind is OrderRested:
                    assert isinstance(ev, OrderRested)
                    add((ev.side, ev.price))
                elif kind is OrderCancelled:
                    assert isinstance(ev, OrderCancelled)
                    if ev.was_resting:
                        add((ev.side, ev.price))
                elif kind is OrderAmended:
                    assert isinstance(ev, OrderAmended)
                    add((ev.side, ev.old_price))
        self._publish_levels(touched, last_seq)
        return trades

    def trades_after(self, trade_id: int) -> list[md.TradeEvent]:
        """Held trades with an id above ``trade_id``, oldest first.

        ``OutOfRange`` if the trade after ``trade_id`` is no longer held. Called with no
        await after subscribing to ``trade_topic``, the two meet with no gap or repeat.
        """
        ring = self.recent_trades
        oldest = ring[0].trade_id if ring else self.book.next_trade_id
        if trade_id + 1 < oldest:
            raise OutOfRange(
                f"{self.spec.symbol}: trades before id {oldest} are no longer held here "
                f"(asked after {trade_id}); resubscribe without after_trade_id"
            )
        skip = max(0, trade_id + 1 - oldest)
        return self.messages(itertools.islice(ring, skip, None))

    def messages(self, held: Iterable[HeldTrade]) -> list[md.TradeEvent]:
        """The ``TradeEvent`` of each held trade."""
        units = self.units
        return [codec.trade_event(units, h.trade, h.timestamp_ns) for h in held]

    def _publish_levels(self, touched: set[tuple[Side, int]], last_seq: int) -> None:
        prev, self.seq = self.seq, last_seq
        level = self.book.level
        levels = self.levels
        changed = [level(side, price) for side, price in touched]
        for (side, price), lv in zip(touched, changed, strict=True):
            if lv.qty:
                levels[side].add(price)
            else:
                levels[side].discard(price)
        if not self.book_topic.has(self.spec.symbol):
            return
        update = md.BookUpdate(symbol=self.spec.symbol, seq=last_seq, prev_seq=prev)
        spec = self.spec
        # Best price first on each side, like a snapshot.
        for (side, _), lv in sorted(
            zip(touched, changed, strict=True),
            key=lambda t: (t[0][0], -t[0][1] if t[0][0] == Side.BUY else t[0][1]),
        ):
            (update.bids if side == Side.BUY else update.asks).append(
                codec.price_level(self.units, lv)
            )
        self.book_topic.publish(spec.symbol, update)

    def snapshot(self, depth: int) -> md.BookSnapshot:
        """The top ``depth`` levels per side at ``self.seq``."""
        spec = self.spec
        return md.BookSnapshot(
            symbol=spec.symbol,
            seq=self.seq,
            bids=[codec.price_level(self.units, lv) for lv in self.book.depth(Side.BUY, depth)],
            asks=[codec.price_level(self.units, lv) for lv in self.book.depth(Side.SELL, depth)],
        )

    def snapshot_update(self, depth: int) -> md.BookUpdate:
        """The snapshot that opens a book stream (``prev_seq`` 0, ``snapshot`` set).

        Subscribe to ``book_topic`` and call this without awaiting in between, so no
        batch can fall between the snapshot and the first update.
        """
        snap = self.snapshot(depth)
        return md.BookUpdate(
            symbol=snap.symbol,
            seq=snap.seq,
            prev_seq=0,
            snapshot=True,
            bids=snap.bids,
            asks=snap.asks,
        )
