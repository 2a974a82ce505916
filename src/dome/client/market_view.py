"""What a bot sees when asked for orders: the book with sizes, its own orders, its position.

The view is a picture taken once per tick by the runner, immutable, so a bot can keep
it and compare. One's own resting orders are in the public book too; ``own_qty`` tells
how much of a level is one's own, and ``mid(exclude_own=True)`` is the middle of the
spread the rest of the market makes, which a market maker should quote around (its own
quotes would otherwise pull the mid towards themselves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from dome.client.models import Level, Trade
from dome.client.orders import Order, OrderState
from dome.client.portfolio import Position
from dome.core.types import Side
from dome.instrument_spec import InstrumentSpec
from dome.positions import ZERO


@dataclass(frozen=True)
class MyOrder:
    """One of the bot's orders that rests on the book (or is on its way there)."""

    order_id: int
    side: Side
    price: Decimal
    remaining_qty: Decimal


@dataclass(frozen=True)
class MarketView:
    """What a bot sees when asked for orders.

    ``bids``/``asks`` are the public book, best first, to the runner's depth;
    ``orders`` every order of the bot's that may still trade (pending ones included,
    with their state); ``position`` its position from its fills.
    """

    symbol: str
    spec: InstrumentSpec
    best_bid: Decimal | None
    best_ask: Decimal | None
    last_trade: Trade | None
    open_orders: tuple[MyOrder, ...]
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    orders: tuple[Order, ...] = ()
    position: Position | None = None
    #: Most recent public trades, oldest first.
    recent_trades: tuple[Trade, ...] = ()
    #: The limit the runner enforces on the position (None: none).
    max_position: Decimal | None = field(default=None)

    @property
    def mid(self) -> Decimal | None:
        """Middle of the spread, else the one side there is, else the last trade price."""
        return self.mid_price()

    def mid_price(self, *, exclude_own: bool = False) -> Decimal | None:
        """``mid``, optionally of the book without the bot's own resting quantity."""
        bid, ask = self.best_bid, self.best_ask
        if exclude_own:
            bid = _best(self.bids, self._own(Side.BUY))
            ask = _best(self.asks, self._own(Side.SELL))
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        if bid is not None or ask is not None:
            return bid if bid is not None else ask
        return self.last_trade.price if self.last_trade else None

    def own_qty(self, side: Side, price: Decimal) -> Decimal:
        """How much of the level at ``price`` on ``side`` is the bot's own."""
        return self._own(side).get(price, ZERO)

    @property
    def position_qty(self) -> Decimal:
        """The signed position (long > 0); zero before any fill."""
        return self.position.qty if self.position is not None else ZERO

    def pending(self) -> tuple[Order, ...]:
        """Orders sent but not acknowledged yet, and those whose cancel is in flight."""
        pending = (OrderState.PENDING_NEW, OrderState.PENDING_CANCEL)
        return tuple(o for o in self.orders if o.state in pending)

    def on_tick(self, price: Decimal, up: bool = False) -> Decimal:
        """``price`` moved onto the tick grid (down unless ``up``), never below one tick."""
        tick = self.spec.tick_size
        ticks = (price / tick).to_integral_value(rounding="ROUND_CEILING" if up else "ROUND_FLOOR")
        return max(ticks, Decimal(1)) * tick

    def lots(self, n: int) -> Decimal:
        """``n`` minimum quantities, a valid order size for any n >= 1."""
        return self.spec.min_qty * n

    def _own(self, side: Side) -> dict[Decimal, Decimal]:
        mine: dict[Decimal, Decimal] = {}
        for order in self.orders:
            if order.side is side and order.resting and order.price is not None:
                mine[order.price] = mine.get(order.price, ZERO) + order.open_qty
        return mine


def _best(levels: tuple[Level, ...], own: dict[Decimal, Decimal]) -> Decimal | None:
    for level in levels:
        if level.qty > own.get(level.price, ZERO):
            return level.price
    return None
