"""Shared tools for the book contract tests: implementations, a scripted session, renderers.

Scenario tests read like a ledger: place a few orders, then compare the book against a
text table and each command's events against one line per event. Rendering every event
field (except ``seq``, checked separately) keeps those lines exact, so a table that
passes means the implementations agree on every field, not only on the gist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import native_core
from dome.core.book_api import Book, RestingOrder
from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.events import (
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRejected,
    OrderRested,
    Trade,
)
from dome.core.instrument import Instrument
from dome.core.reference import ReferenceBook
from dome.core.state_hash import hash_book
from dome.core.types import OrderType, SelfTradePrevention, Side

BookFactory = Callable[[Instrument], Book]

#: Every implementation the contract suite runs against, by name (the native one is None,
#: so skipped, only where no Rust toolchain exists: see tests/native_core.py).
IMPLEMENTATIONS: dict[str, BookFactory | None] = {
    "reference": ReferenceBook,
    "native": native_core.book_factory(),
}

#: A small instrument whose bounds the reject tests can reach easily.
INSTRUMENT = Instrument("XYZ", min_qty=2, max_qty=1_000, min_price=10, max_price=1_000)

LIMIT = OrderType.LIMIT
MARKET = OrderType.MARKET
IOC = OrderType.IOC
FOK = OrderType.FOK
POST_ONLY = OrderType.POST_ONLY
CANCEL_RESTING = SelfTradePrevention.CANCEL_RESTING
REJECT_INCOMING = SelfTradePrevention.REJECT_INCOMING


def render_book(book: Book) -> str:
    """The book as a ladder: asks from the highest price down, then bids from the best.

    One line per level: ``side price | id account remaining ; ...`` in time priority.
    An empty book renders as ``(empty)``.
    """
    rows: dict[tuple[Side, int], list[RestingOrder]] = {}
    for order in book.orders():
        rows.setdefault((order.side, order.price), []).append(order)
    asks = sorted((k for k in rows if k[0] == Side.SELL), key=lambda k: -k[1])
    bids = sorted((k for k in rows if k[0] == Side.BUY), key=lambda k: -k[1])
    lines = []
    for key in asks + bids:
        side, price = key
        cells = " ; ".join(f"{o.order_id} {o.account} {o.remaining}" for o in rows[key])
        lines.append(f"{'ask' if side == Side.SELL else 'bid'} {price} | {cells}")
    return "\n".join(lines) or "(empty)"


def table(text: str) -> str:
    """Normalise an expected table written as an indented triple-quoted string."""
    lines = [" ".join(line.split()) for line in text.strip().splitlines()]
    return "\n".join(line for line in lines if line)


def describe(event: Event) -> str:
    """One line with every field of ``event`` except ``seq``."""
    if isinstance(event, OrderAccepted):
        cid = f" cid={event.client_order_id}" if event.client_order_id else ""
        return (
            f"accepted {event.order_id} {event.account} {event.side.name} "
            f"{event.order_type.name} {event.qty}@{event.price}{cid}"
        )
    if isinstance(event, Trade):
        return (
            f"trade t{event.trade_id} {event.qty}@{event.price} {event.aggressor.name} "
            f"maker {event.maker_order_id} {event.maker_account} left {event.maker_remaining} "
            f"taker {event.taker_order_id} {event.taker_account} left {event.taker_remaining}"
        )
    if isinstance(event, OrderRested):
        return (
            f"rested {event.order_id} {event.account} {event.side.name} "
            f"{event.remaining}@{event.price}"
        )
    if isinstance(event, OrderCancelled):
        where = "resting" if event.was_resting else "incoming"
        return (
            f"cancelled {event.order_id} {event.account} {event.side.name} "
            f"{event.cancelled_qty}@{event.price} {event.reason.name} {where}"
        )
    if isinstance(event, OrderAmended):
        kept = "kept" if event.priority_kept else "lost"
        return (
            f"amended {event.order_id} {event.account} {event.side.name} "
            f"{event.old_remaining}@{event.old_price} -> {event.new_remaining}@{event.new_price} "
            f"priority {kept}"
        )
    cid = f" cid={event.client_order_id}" if event.client_order_id else ""
    return f"rejected {event.order_id} {event.account} {event.reason.name}{cid}"


def fills(events: Sequence[Event]) -> list[tuple[int, int, int, int]]:
    """``(maker_order_id, taker_order_id, price, qty)`` of every trade, in order."""
    return [
        (e.maker_order_id, e.taker_order_id, e.price, e.qty) for e in events if isinstance(e, Trade)
    ]


class Session:
    """Drives one book with auto-numbered commands and checks what every command owes.

    After each command: every event carries the command's seq, ``last_seq`` is that seq,
    and ``check_invariants()`` passes. ``events`` holds the last command's raw events.
    """

    def __init__(self, book: Book) -> None:
        self.book = book
        self.seq = 0
        self.events: list[Event] = []

    def run(self, make: Callable[[int], Command]) -> list[str]:
        self.seq += 1
        self.events = self.book.apply(make(self.seq))
        assert all(e.seq == self.seq for e in self.events), self.events
        assert self.book.last_seq == self.seq
        self.book.check_invariants()
        return [describe(e) for e in self.events]

    def order(
        self,
        side: Side,
        order_id: int,
        account: str,
        price: int,
        qty: int,
        order_type: OrderType = LIMIT,
        stp: SelfTradePrevention = CANCEL_RESTING,
        client_order_id: str = "",
    ) -> list[str]:
        return self.run(
            lambda seq: NewOrder(
                seq,
                seq * 1000,
                order_id,
                account,
                client_order_id,
                side,
                order_type,
                price,
                qty,
                stp,
            )
        )

    def buy(
        self,
        order_id: int,
        account: str,
        price: int,
        qty: int,
        order_type: OrderType = LIMIT,
        stp: SelfTradePrevention = CANCEL_RESTING,
    ) -> list[str]:
        return self.order(Side.BUY, order_id, account, price, qty, order_type, stp)

    def sell(
        self,
        order_id: int,
        account: str,
        price: int,
        qty: int,
        order_type: OrderType = LIMIT,
        stp: SelfTradePrevention = CANCEL_RESTING,
    ) -> list[str]:
        return self.order(Side.SELL, order_id, account, price, qty, order_type, stp)

    def cancel(self, account: str, order_id: int) -> list[str]:
        return self.run(lambda seq: CancelOrder(seq, seq * 1000, account, order_id))

    def amend(self, account: str, order_id: int, qty: int = 0, price: int = 0) -> list[str]:
        return self.run(lambda seq: AmendOrder(seq, seq * 1000, account, order_id, qty, price))

    def table(self) -> str:
        return render_book(self.book)

    def resting(self, order_id: int) -> RestingOrder:
        """The open order ``order_id``; fails the test when the book holds none."""
        order = self.book.get_order(order_id)
        assert order is not None, f"order {order_id} is not on the book"
        return order

    def expect_untouched(self, make: Callable[[int], Command]) -> list[str]:
        """Run a command that must be rejected and prove it changed nothing but last_seq."""
        before = list(self.book.orders())
        trade_id = self.book.next_trade_id
        lines = self.run(make)
        assert len(self.events) == 1, lines
        assert isinstance(self.events[0], OrderRejected), lines
        assert list(self.book.orders()) == before
        assert self.book.next_trade_id == trade_id
        assert self.book.state_hash() == hash_book(
            self.book.instrument.symbol, self.seq, trade_id, before
        )
        return lines


class Ledger:
    """Open orders as the events tell them, rebuilt without looking inside any book."""

    def __init__(self) -> None:
        self.open: dict[int, tuple[Side, int, int]] = {}

    def apply(self, events: list[Event]) -> None:
        incoming: dict[int, int] = {}
        for ev in events:
            if isinstance(ev, OrderAccepted):
                incoming[ev.order_id] = ev.qty
            elif isinstance(ev, OrderAmended):
                side, price, remaining = self.open.pop(ev.order_id)
                assert (side, price, remaining) == (ev.side, ev.old_price, ev.old_remaining)
                if ev.priority_kept:
                    self.open[ev.order_id] = (side, price, ev.new_remaining)
                else:
                    incoming[ev.order_id] = ev.new_remaining
            elif isinstance(ev, Trade):
                side, price, remaining = self.open.pop(ev.maker_order_id)
                assert price == ev.price, "trades happen at the maker's price"
                assert remaining - ev.qty == ev.maker_remaining
                if ev.maker_remaining:
                    self.open[ev.maker_order_id] = (side, price, ev.maker_remaining)
                assert incoming[ev.taker_order_id] - ev.qty == ev.taker_remaining
                incoming[ev.taker_order_id] = ev.taker_remaining
            elif isinstance(ev, OrderRested):
                assert incoming.pop(ev.order_id) == ev.remaining
                self.open[ev.order_id] = (ev.side, ev.price, ev.remaining)
            elif isinstance(ev, OrderCancelled):
                if ev.was_resting:
                    assert self.open.pop(ev.order_id)[2] == ev.cancelled_qty
                else:
                    assert incoming.pop(ev.order_id) == ev.cancelled_qty
        # what is still incoming must have been filled completely
        assert all(left == 0 for left in incoming.values()), incoming

    def matches(self, book: Book) -> bool:
        return self.open == {o.order_id: (o.side, o.price, o.remaining) for o in book.orders()}
