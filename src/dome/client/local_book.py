"""A subscriber's copy of one book, built from a StreamBook snapshot plus increments.

Market data is only useful if it is known to be complete: every update names the seq of
the one before it (``prev_seq``), so the copy can tell when it has missed something and
must be rebuilt from a fresh snapshot rather than silently drift from the exchange.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from dome.client.models import BookSnapshot, Level, dec
from dome.v1 import common_pb2, market_data_pb2


class GapDetected(Exception):
    """An update does not follow the last one applied; the copy must be rebuilt."""


class LocalBook:
    """Price -> (qty, order_count) per side, with the seq of the last update applied.

    >>> book = LocalBook("XYZ")
    >>> book.apply(market_data_pb2.BookUpdate(symbol="XYZ", seq=3, snapshot=True,
    ...     bids=[common_pb2.PriceLevel(price="99.5", qty="2", order_count=1)]))
    >>> book.best_bid(), book.seq
    (Level(price=Decimal('99.5'), qty=Decimal('2'), order_count=1), 3)
    """

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.seq = 0
        self.synced = False
        self._bids: dict[Decimal, Level] = {}
        self._asks: dict[Decimal, Level] = {}

    def apply(self, update: market_data_pb2.BookUpdate) -> None:
        """Apply one stream message; raises ``GapDetected`` if one was missed."""
        if update.snapshot:
            self._bids.clear()
            self._asks.clear()
            self.synced = True
        elif not self.synced or update.prev_seq != self.seq:
            self.expect_snapshot()
            raise GapDetected(f"{self.symbol}: update after {update.prev_seq}, have {self.seq}")
        _merge(self._bids, update.bids)
        _merge(self._asks, update.asks)
        self.seq = update.seq

    def expect_snapshot(self) -> None:
        """The copy no longer follows the stream (it moved to another replica, or a gap was
        seen): only a snapshot may come next, and any other update is a gap.

        A snapshot from the new replica rebuilds the copy; without this, an increment that
        happened to name the old replica's last seq would be applied to the old one's picture.
        """
        self.synced = False

    def bids(self, depth: int | None = None) -> list[Level]:
        """Bid levels, best (highest) first."""
        levels = sorted(self._bids.values(), key=lambda lv: lv.price, reverse=True)
        return levels[:depth] if depth else levels

    def asks(self, depth: int | None = None) -> list[Level]:
        """Ask levels, best (lowest) first."""
        levels = sorted(self._asks.values(), key=lambda lv: lv.price)
        return levels[:depth] if depth else levels

    def best_bid(self) -> Level | None:
        return self._bids[max(self._bids)] if self._bids else None

    def best_ask(self) -> Level | None:
        return self._asks[min(self._asks)] if self._asks else None

    def snapshot(self, depth: int | None = None) -> BookSnapshot:
        """An immutable picture of the copy, e.g. to compare with ``Client.book``."""
        return BookSnapshot(self.symbol, self.seq, tuple(self.bids(depth)), tuple(self.asks(depth)))


def _merge(side: dict[Decimal, Level], levels: Iterable[common_pb2.PriceLevel]) -> None:
    for raw in levels:
        price, qty = dec(raw.price), dec(raw.qty)
        if qty == 0:
            side.pop(price, None)
        else:
            side[price] = Level(price, qty, raw.order_count)
