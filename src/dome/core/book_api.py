"""The one order-book interface; every implementation passes the same contract suite.

``ReferenceBook`` (``dome.core.reference``) is the readable Python one, ``dome_native.Book``
the Rust one (``dome.cores`` chooses between them). Both are pure: commands in, events
out, and the same commands give the same events and the same ``state_hash()``.
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


class BookState(NamedTuple):
    """A book's whole replicated state as plain data: enough to rebuild an equal book.

    Plain immutable data (no implementation's internals), so a snapshot taken from one
    implementation restores into the other, and the log can encode it for disk and for
    engines that catch up over ``FetchSnapshot``.
    """

    symbol: str
    last_seq: int
    next_trade_id: int
    #: Open orders in ``Book.orders()`` order: bids best price first, then asks; time
    #: priority within a level. Restoring them in this order rebuilds every queue.
    orders: tuple[RestingOrder, ...]


_SNAPSHOT_SIDES = frozenset(Side)
_RESTING_TYPES = frozenset((OrderType.LIMIT, OrderType.POST_ONLY))
_SNAPSHOT_STPS = frozenset(SelfTradePrevention)


def check_snapshot(instrument: Instrument, snapshot: BookState) -> None:
    """Raise ``ValueError`` unless ``snapshot`` is a consistent book of ``instrument``.

    Snapshots cross the network between engines, so a book refuses one that could not
    have come from a book (crossed, out of priority order, duplicate ids) rather than
    turn into one no command sequence could produce.

    >>> check_snapshot(Instrument("XYZ"), BookState("ABC", 0, 1, ()))
    Traceback (most recent call last):
    ...
    ValueError: snapshot is of ABC, not XYZ
    """
    if snapshot.symbol != instrument.symbol:
        raise ValueError(f"snapshot is of {snapshot.symbol}, not {instrument.symbol}")
    if snapshot.last_seq < 0 or snapshot.next_trade_id < 1:
        raise ValueError("snapshot has a negative last_seq or a trade id below 1")
    seen: set[int] = set()
    previous: tuple[int, int, int] | None = None  # (side, price, priority) before
    best_bid: int | None = None
    for o in snapshot.orders:
        if o.side not in _SNAPSHOT_SIDES or o.order_type not in _RESTING_TYPES:
            raise ValueError(f"order {o.order_id}: bad side or a type that cannot rest")
        if o.stp not in _SNAPSHOT_STPS:
            raise ValueError(f"order {o.order_id}: bad self-trade prevention mode")
        if not 0 < o.remaining <= o.qty or o.price <= 0:
            raise ValueError(f"order {o.order_id}: remaining, qty or price out of range")
        if o.order_id in seen:
            raise ValueError(f"order {o.order_id} appears twice")
        if o.priority > snapshot.last_seq:
            raise ValueError(f"order {o.order_id}: priority after the snapshot's last_seq")
        seen.add(o.order_id)
        key = (int(o.side), o.price, o.priority)
        if previous is not None:
            same_level = key[:2] == previous[:2]
            if same_level and key[2] <= previous[2]:
                raise ValueError(f"order {o.order_id}: out of time priority")
            if not same_level and not _follows(previous, key):
                raise ValueError(f"order {o.order_id}: levels out of order")
        if o.side == Side.BUY and best_bid is None:
            best_bid = o.price
        if o.side == Side.SELL and best_bid is not None and o.price <= best_bid:
            raise ValueError(f"crossed snapshot: ask {o.price} <= bid {best_bid}")
        previous = key


def _follows(previous: tuple[int, int, int], key: tuple[int, int, int]) -> bool:
    """Whether level ``key`` may come after level ``previous`` in ``Book.orders()`` order."""
    if previous[0] != key[0]:
        return previous[0] == Side.BUY and key[0] == Side.SELL
    if key[0] == Side.BUY:
        return key[1] < previous[1]
    return key[1] > previous[1]


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

    def snapshot(self) -> BookState:
        """The whole state as plain data (see ``BookState``)."""
        ...

    def restore(self, snapshot: BookState) -> None:
        """Replace this book's state with ``snapshot``'s; ``ValueError`` if inconsistent.

        Afterwards the book hashes like the one the snapshot was taken from and answers
        every further command with the same events.
        """
        ...
