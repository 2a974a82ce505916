"""Example bots: each one a page of trading logic on top of ``dome.client.bots``.

They exist to make a simulated market worth watching (and to exercise every order type),
not to make money: a market maker provides two-sided liquidity, a random trader takes and
adds at random, a momentum taker follows the last trades.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from decimal import Decimal

from dome.client.bots import Bot, BotAction, Cancel, MarketView, Place
from dome.client.models import Execution, Fill
from dome.core.types import OrderType, Side


class MarketMaker(Bot):
    """Quotes a bid and an ask ``spread_ticks`` around mid; requotes when mid moves.

    Inventory skews the quotes: after buying, both quotes move down a tick per unit held,
    which makes selling more likely.
    """

    interval = 0.1

    def __init__(
        self,
        symbol: str,
        *,
        seed: int = 0,
        ref_price: Decimal | None = None,
        spread_ticks: int = 4,
        size: int = 5,
    ) -> None:
        super().__init__(symbol, seed=seed, ref_price=ref_price)
        self.spread_ticks = spread_ticks
        self.size = size
        self.position = Decimal(0)

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        tick = view.spec.tick_size
        mid = view.mid if view.mid is not None else self.ref_price
        skew = (self.position / view.spec.min_qty / self.size).to_integral_value() * tick
        bid = view.on_tick(mid - self.spread_ticks * tick / 2 - skew)
        ask = view.on_tick(mid + self.spread_ticks * tick / 2 - skew, up=True)
        if ask <= bid:
            ask = bid + tick
        wanted = {Side.BUY: bid, Side.SELL: ask}
        actions: list[BotAction] = []
        quoted = set()
        for order in view.open_orders:
            if order.price != wanted[order.side] or order.side in quoted:
                actions.append(Cancel(order.order_id))
            else:
                quoted.add(order.side)
        qty = view.lots(self.rng.randint(1, self.size))
        for side, price in wanted.items():
            if side not in quoted:
                actions.append(Place(side, qty, price, OrderType.LIMIT))
        return actions

    def on_fill(self, fill: Fill, execution: Execution) -> None:
        self.position += fill.qty if execution.side is Side.BUY else -fill.qty


class RandomTrader(Bot):
    """Mostly adds limit orders a few ticks from mid, sometimes crosses with IOC or market.

    Keeps at most ``max_open`` resting orders, cancelling the oldest beyond that.
    """

    interval = 0.1

    def __init__(
        self, symbol: str, *, seed: int = 0, ref_price: Decimal | None = None, max_open: int = 6
    ) -> None:
        super().__init__(symbol, seed=seed, ref_price=ref_price)
        self.max_open = max_open

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        rng, tick = self.rng, view.spec.tick_size
        actions: list[BotAction] = []
        if len(view.open_orders) >= self.max_open:
            actions.append(Cancel(min(o.order_id for o in view.open_orders)))
        side = rng.choice((Side.BUY, Side.SELL))
        qty = view.lots(rng.randint(1, 4))
        mid = view.mid if view.mid is not None else self.ref_price
        roll = rng.random()
        if roll < 0.15 and (view.best_bid is not None or view.best_ask is not None):
            actions.append(Place(side, qty, None, OrderType.MARKET))
        elif roll < 0.45:
            # Cross the spread by a couple of ticks: takes whatever rests there.
            far = mid + 2 * tick * (1 if side is Side.BUY else -1)
            actions.append(Place(side, qty, view.on_tick(far, up=side is Side.BUY), OrderType.IOC))
        else:
            away = rng.randint(1, 10) * tick * (-1 if side is Side.BUY else 1)
            kind = OrderType.POST_ONLY if rng.random() < 0.2 else OrderType.LIMIT
            actions.append(Place(side, qty, view.on_tick(mid + away), kind))
        return actions


class MomentumTaker(Bot):
    """Takes in the direction of the last trades: buys after upticks, sells after downticks."""

    interval = 0.2

    def __init__(
        self, symbol: str, *, seed: int = 0, ref_price: Decimal | None = None, lookback: int = 5
    ) -> None:
        super().__init__(symbol, seed=seed, ref_price=ref_price)
        self.prices: deque[Decimal] = deque(maxlen=lookback)
        self.last_trade_id = 0

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        trade = view.last_trade
        if trade is not None and trade.trade_id != self.last_trade_id:
            self.last_trade_id = trade.trade_id
            self.prices.append(trade.price)
        if len(self.prices) < 2 or self.prices[-1] == self.prices[0]:
            return ()
        side = Side.BUY if self.prices[-1] > self.prices[0] else Side.SELL
        best = view.best_ask if side is Side.BUY else view.best_bid
        if best is None:
            return ()
        self.prices.clear()  # one trade per move, not one per tick
        qty = view.lots(self.rng.randint(1, 3))
        kind = OrderType.FOK if self.rng.random() < 0.3 else OrderType.IOC
        return (Place(side, qty, best, kind),)
