"""The bot framework: a bot says which orders it wants and hears what became of them.

Everything else (the connection, the book, trade and execution streams, placing,
cancelling and amending, order lifecycles, the position, risk limits, a clean stop and
a restart that finds the previous run's orders) is the ``BotRunner``'s job
(``dome.client.runner``), so that a trading idea fits in a page. A bot is called on a
cadence with a ``MarketView`` and answers with ``Place``, ``Cancel`` and ``Replace``
actions; what happens to its orders arrives through the ``on_*`` callbacks.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from dome.client.market_view import MarketView, MyOrder
from dome.client.models import Execution, Fill
from dome.client.orders import OrderCancelled, OrderEvent, OrderFilled, OrderRejected
from dome.core.types import OrderType, Side

__all__ = [
    "STOP_GRACE_S",
    "Bot",
    "BotAction",
    "BotStats",
    "Cancel",
    "MarketView",
    "MyOrder",
    "Place",
    "Replace",
]

#: How long an order call still in flight when the stop comes may take to finish. A
#: working exchange answers in milliseconds; a broken one (discovery gone, no primary)
#: would hold the bot for the client's whole retry deadline per queued action, and
#: ``dome up`` took up to 40 s to stop that way.
STOP_GRACE_S = 1.0


@dataclass(frozen=True)
class Place:
    """Ask the runner to place an order (``price`` None for market orders)."""

    side: Side
    qty: Decimal
    price: Decimal | None = None
    type: OrderType = OrderType.LIMIT


@dataclass(frozen=True)
class Cancel:
    """Ask the runner to cancel one of the bot's open orders."""

    order_id: int


@dataclass(frozen=True)
class Replace:
    """Change one of the bot's resting orders in place (an amend): new price and/or qty.

    One command, so there is never a moment with both the old and the new quote on the
    book. Lowering only the quantity keeps time priority; anything else loses it.
    """

    order_id: int
    qty: Decimal | None = None
    price: Decimal | None = None


BotAction = Place | Cancel | Replace


class Bot:
    """Subclass and implement ``generate_orders``; the ``on_*`` callbacks are optional.

    ``interval`` is the cadence in seconds; ``self.rng`` is seeded so a run is repeatable
    as far as the market lets it be. ``max_position`` (a quantity, e.g. ``10 * min_qty``
    for ten lots) makes the runner refuse any order that could take the position beyond
    it, long or short, if every open order of the bot filled, pending ones included;
    refused orders come back through ``on_order_rejected`` with ``reject_message``
    saying so.
    """

    interval: float = 0.1
    max_position: Decimal | None = None

    def __init__(self, symbol: str, *, seed: int = 0, ref_price: Decimal | None = None) -> None:
        self.symbol = symbol
        self.rng = random.Random(seed)
        self.ref_price = ref_price if ref_price is not None else Decimal(100)

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        """The orders to place, cancel and replace now."""
        raise NotImplementedError

    def on_fill(self, fill: Fill, execution: Execution) -> None:
        """One of the bot's orders traded: each trade once, with the report that said so."""

    def on_order_rejected(self, event: OrderRejected) -> None:
        """The exchange or the runner's risk check refused an order, cancel or replace."""

    def on_order_cancelled(self, event: OrderCancelled) -> None:
        """An order's open quantity left the book."""

    def on_order_updated(self, event: OrderEvent) -> None:
        """Any change of an order's state, fills and cancels and rejects included."""

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass
class BotStats:
    """Counts of one runner's activity."""

    orders: int = 0
    cancels: int = 0
    replaces: int = 0
    rejects: int = 0
    #: Trades the bot took part in (each fill of one of its orders once, maker or taker).
    trades: int = 0
    #: Of those, the ones where the bot's order was the taker (a trade between two bots
    #: is one taker fill: the simulation counts trades this way).
    taker_fills: int = 0
    fills: int = 0
    errors: int = 0
    #: Orders the risk check refused before sending.
    risk_refusals: int = 0
    #: Times a market data or execution stream was opened again after it failed.
    resubscribes: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


def deliver(bot: Bot, event: OrderEvent) -> None:
    """Call the bot's callbacks for ``event``: the specific one, then ``on_order_updated``."""
    if isinstance(event, OrderFilled):
        bot.on_fill(event.fill, event.execution)
    elif isinstance(event, OrderRejected):
        bot.on_order_rejected(event)
    elif isinstance(event, OrderCancelled):
        bot.on_order_cancelled(event)
    bot.on_order_updated(event)


def __getattr__(name: str) -> object:
    # ``from dome.client.bots import BotRunner`` kept working after the runner moved to
    # its own module (which imports this one, hence not imported here at load time).
    if name == "BotRunner":
        from dome.client.runner import BotRunner

        return BotRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
