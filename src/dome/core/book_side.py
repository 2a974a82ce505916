"""One side of the reference book: price levels, each a queue of resting orders.

The structures ``ReferenceBook`` (``dome.core.reference``) matches against, kept apart so
the book reads as the rules of docs/book.md and this module as the data layout those
rules run on. Each side's levels live in a ``sortedcontainers.SortedDict`` keyed by price,
with the best level kept at hand as levels come and go; a level holds its orders in an
``OrderedDict`` by id, in time priority. So the best price is O(1) to read, a new or
emptied level O(log L) for L levels, and a fill, an append to a level or a cancel
anywhere in one O(1).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from sortedcontainers import SortedDict

from dome.core.book_api import InvariantError, RestingOrder
from dome.core.types import OrderType, SelfTradePrevention, Side

# Bound once: on CPython 3.11 reading ``Side.BUY`` goes through the enum's metaclass and
# costs several times a local lookup.
_BUY = Side.BUY


@dataclass(slots=True)
class QueuedOrder:
    """A resting order; mutable because fills and amends change it in place."""

    order_id: int
    account: str
    client_order_id: str
    side: Side
    price: int
    qty: int
    remaining: int
    priority: int
    order_type: OrderType
    stp: SelfTradePrevention

    def view(self) -> RestingOrder:
        return RestingOrder(
            self.order_id,
            self.account,
            self.client_order_id,
            self.side,
            self.price,
            self.qty,
            self.remaining,
            self.priority,
            self.order_type,
            self.stp,
        )


@dataclass(slots=True)
class PriceLevel:
    """Orders at one price in time priority, with a running total checked by invariants.

    ``orders`` maps order id to order in arrival order: the first entry is next to trade.
    """

    price: int
    orders: OrderedDict[int, QueuedOrder] = field(default_factory=OrderedDict)
    total_qty: int = 0

    def first(self) -> QueuedOrder:
        """The order with time priority (the level is never empty while it is on a side)."""
        return next(iter(self.orders.values()))


class BookSide:
    """One side of the book: its levels by price in a ``SortedDict``, and the best one.

    The best level is the highest bid or the lowest ask: the last or first key of the
    sorted dict. It is kept in ``best`` as levels come and go, so matching, which asks
    for it before every fill, reads an attribute. Adding or dropping a level is
    O(log L) for L levels; finding one by price is O(1).
    """

    __slots__ = ("_best_index", "_levels", "best", "side")

    def __init__(self, side: Side) -> None:
        self.side = side
        #: price -> PriceLevel, in ascending price order.
        self._levels = SortedDict()
        #: Where the best price sits in ascending order: last for bids, first for asks.
        self._best_index = -1 if side == _BUY else 0
        #: The level with the best price; None while the side is empty.
        self.best: PriceLevel | None = None

    def get(self, price: int) -> PriceLevel | None:
        level: PriceLevel | None = self._levels.get(price)
        return level

    def best_first(self) -> Iterator[PriceLevel]:
        """Every level, best price first."""
        levels = self._levels
        prices = reversed(levels) if self.side == _BUY else iter(levels)
        return (levels[price] for price in prices)

    def items(self) -> Iterator[tuple[int, PriceLevel]]:
        """(price as keyed, level) in ascending price order, for the invariant check."""
        return iter(self._levels.items())

    def add(self, price: int) -> PriceLevel:
        """A new, empty level at ``price`` (none may be there)."""
        level = self._levels[price] = PriceLevel(price)
        if self.best is None or better(self.side, price, self.best.price):
            self.best = level
        return level

    def drop(self, price: int) -> None:
        """Remove the (emptied) level at ``price``."""
        levels = self._levels
        del levels[price]
        if self.best is not None and self.best.price == price:
            self.best = levels.peekitem(self._best_index)[1] if levels else None

    def check(self, by_id: dict[int, QueuedOrder], seen: set[int]) -> None:
        """Raise ``InvariantError`` unless this side is well formed.

        ``best`` is the level the sorted keys end with; every level is keyed by its price,
        non-empty, totals its orders and keeps them in time order; every order sits on
        its own side and price, has something left, rests once (``seen`` collects the
        ids across both sides) and is the one ``by_id`` indexes.
        """
        side, levels = self.side, self._levels
        expected = levels.peekitem(self._best_index)[1] if levels else None
        if self.best is not expected:
            raise InvariantError(f"{side.name}: the best level is not the best price's")
        for price, level in self.items():
            if level.price != price:
                raise InvariantError(f"{side.name} level keyed {price} says {level.price}")
            if not level.orders:
                raise InvariantError(f"{side.name} level {price} is empty")
            if level.total_qty != sum(o.remaining for o in level.orders.values()):
                raise InvariantError(f"{side.name} level {price} total is off")
            previous_priority: int | None = None
            for order_id, order in level.orders.items():
                if order.order_id != order_id:
                    raise InvariantError(f"order {order.order_id} is filed as {order_id}")
                if order.order_id in seen:
                    raise InvariantError(f"order {order.order_id} rests twice")
                seen.add(order.order_id)
                if by_id.get(order.order_id) is not order:
                    raise InvariantError(f"order {order.order_id} is not indexed")
                if order.side != side or order.price != price:
                    raise InvariantError(f"order {order.order_id} sits on the wrong level")
                if order.remaining <= 0:
                    raise InvariantError(f"order {order.order_id} has nothing left")
                if previous_priority is not None and order.priority <= previous_priority:
                    raise InvariantError(f"{side.name} level {price} is out of time order")
                previous_priority = order.priority


def better(side: Side, price: int, than: int) -> bool:
    """Whether ``price`` is a better price than ``than`` for a resting order of ``side``."""
    return price > than if side == _BUY else price < than


def price_reaches(taker_side: Side, limit_price: int | None, maker_price: int) -> bool:
    """Whether a taker with this limit may trade at ``maker_price``."""
    if limit_price is None:
        return True
    if taker_side == _BUY:
        return maker_price <= limit_price
    return maker_price >= limit_price
