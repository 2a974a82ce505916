"""The one order-book interface; every implementation passes the same contract suite.

``ReferenceBook`` (``dome.core.reference``) is the readable one, ``OrderBook``
(``dome.core.book``) the fast one. Both are pure: commands in, events out, and the same
commands give the same events and the same ``state_hash()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, Protocol

from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.events import Event
from dome.core.instrument import Instrument
from dome.core.types import OrderType, SelfTradePrevention, Side


class RestingOrder(NamedTuple):
    """A read-only view of an order on the book."""

    order_id: int
    account: str
    client_order_id: str
    side: Side
    price: int
    #: Quantity the order was placed (or last re-entered by amend) with, in lots.
    qty: int
    #: Open quantity still on the book, in lots.
    remaining: int
    #: Sequence number that set its time priority.
    priority: int
    #: LIMIT or POST_ONLY: what rests. An amend that re-prices keeps the rule.
    order_type: OrderType
    #: Self-trade prevention mode, reused when an amend re-enters the order.
    stp: SelfTradePrevention


class Level(NamedTuple):
    """One price level: total open lots and how many orders make it up."""

    price: int
    qty: int
    count: int  # type: ignore[assignment]  # shadows tuple.count, on purpose


class InvariantError(AssertionError):
    """A book's internal state contradicts itself: a bug, never a user error."""


class Book(Protocol):
    """What the engine, the tests and the benchmarks may rely on."""

    instrument: Instrument

    def place(self, cmd: NewOrder) -> list[Event]:
        """Validate and execute a new order."""
        ...

    def cancel(self, cmd: CancelOrder) -> list[Event]:
        """Cancel an open order of the command's account."""
        ...

    def amend(self, cmd: AmendOrder) -> list[Event]:
        """Change an open order of the command's account."""
        ...

    def apply(self, cmd: Command) -> list[Event]:
        """Dispatch any command to the three above."""
        ...

    def best_bid(self) -> int | None:
        """Highest resting buy price in ticks, or None."""
        ...

    def best_ask(self) -> int | None:
        """Lowest resting sell price in ticks, or None."""
        ...

    def level(self, side: Side, price: int) -> Level:
        """The level at ``price`` (qty 0, count 0 when empty)."""
        ...

    def depth(self, side: Side, levels: int) -> list[Level]:
        """Up to ``levels`` levels of one side, best first."""
        ...

    def get_order(self, order_id: int) -> RestingOrder | None:
        """The open order with this id, or None."""
        ...

    def orders(self) -> Iterator[RestingOrder]:
        """Every open order: bids best price first, then asks; time priority within."""
        ...

    @property
    def last_seq(self) -> int:
        """Sequence number of the last command applied (0 before any)."""
        ...

    @property
    def next_trade_id(self) -> int:
        """The id the next trade will get."""
        ...

    def check_invariants(self) -> None:
        """Raise ``InvariantError`` if internal state is inconsistent."""
        ...

    def state_hash(self) -> str:
        """Hex digest of the canonical state; equal on every replica at one sequence."""
        ...
