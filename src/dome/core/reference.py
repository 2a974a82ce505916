"""The readable order book: docs/book.md turned into code, step by step, with no speed tricks.

It exists so that the fast ``dome.core.book.OrderBook`` has something obviously right to
be compared with, event for event and hash for hash. Every rule is written in the order
docs/book.md states it; levels are plain lists in a dict keyed by price, and "best price"
is recomputed with ``max``/``min`` whenever it is needed. When this book and the fast one
disagree, read this one first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from dome.core.book_api import BookSnapshot, InvariantError, Level, RestingOrder, check_snapshot
from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.events import (
    CancelReason,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRejected,
    OrderRested,
    Trade,
)
from dome.core.instrument import Instrument
from dome.core.state_hash import hash_book
from dome.core.types import OrderType, RejectReason, SelfTradePrevention, Side
from dome.core.validation import validate_amend_values, validate_new


@dataclass
class _Order:
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


@dataclass
class _Level:
    """Orders at one price in time priority, with a running total checked by invariants."""

    price: int
    orders: list[_Order] = field(default_factory=list)
    total_qty: int = 0


@dataclass
class _Taker:
    """The order that is matching right now: a new order, or an amended one re-entering."""

    order_id: int
    account: str
    side: Side
    #: None for MARKET: any price will do.
    limit_price: int | None
    remaining: int
    stp: SelfTradePrevention


def _opposite(side: Side) -> Side:
    return Side.SELL if side == Side.BUY else Side.BUY


def _price_reaches(taker_side: Side, limit_price: int | None, maker_price: int) -> bool:
    """Whether a taker with this limit may trade at ``maker_price``."""
    if limit_price is None:
        return True
    if taker_side == Side.BUY:
        return maker_price <= limit_price
    return maker_price >= limit_price


class ReferenceBook:
    """One symbol's order book, implementing ``dome.core.book_api.Book`` plainly.

    >>> from dome.core.commands import NewOrder
    >>> book = ReferenceBook(Instrument("XYZ"))
    >>> _ = book.place(NewOrder(1, 0, 7, "alice", "", Side.SELL, OrderType.LIMIT, 101, 5))
    >>> [type(e).__name__ for e in book.place(
    ...     NewOrder(2, 0, 8, "bob", "", Side.BUY, OrderType.LIMIT, 102, 3))]
    ['OrderAccepted', 'Trade']
    >>> book.level(Side.SELL, 101)
    Level(price=101, qty=2, count=1)
    """

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self._levels: dict[Side, dict[int, _Level]] = {Side.BUY: {}, Side.SELL: {}}
        self._by_id: dict[int, _Order] = {}
        self._last_seq = 0
        self._next_trade_id = 1

    # ----------------------------------------------------------------- commands

    def apply(self, cmd: Command) -> list[Event]:
        if isinstance(cmd, NewOrder):
            return self.place(cmd)
        if isinstance(cmd, CancelOrder):
            return self.cancel(cmd)
        if isinstance(cmd, AmendOrder):
            return self.amend(cmd)
        raise TypeError(f"not a book command: {cmd!r}")

    def place(self, cmd: NewOrder) -> list[Event]:
        self._last_seq = cmd.seq
        reason = validate_new(self.instrument, cmd)
        if reason == RejectReason.NONE:
            reason = self._book_check_new(cmd)
        if reason != RejectReason.NONE:
            return [OrderRejected(cmd.seq, cmd.order_id, cmd.account, cmd.client_order_id, reason)]

        side = Side(cmd.side)
        order_type = OrderType(cmd.order_type)
        stp = SelfTradePrevention(cmd.stp)
        events: list[Event] = [
            OrderAccepted(
                cmd.seq,
                cmd.order_id,
                cmd.account,
                cmd.client_order_id,
                side,
                order_type,
                cmd.price,
                cmd.qty,
            )
        ]
        taker = _Taker(
            cmd.order_id,
            cmd.account,
            side,
            None if order_type == OrderType.MARKET else cmd.price,
            cmd.qty,
            stp,
        )
        taker_cancelled = self._match(cmd.seq, taker, events)
        if taker_cancelled or taker.remaining == 0:
            return events
        if order_type in (OrderType.MARKET, OrderType.IOC, OrderType.FOK):
            # FOK was checked to fill completely, so it never gets here; listing it keeps
            # "only LIMIT and POST_ONLY rest" true even if that check were wrong.
            events.append(
                OrderCancelled(
                    cmd.seq,
                    cmd.order_id,
                    cmd.account,
                    side,
                    cmd.price,
                    taker.remaining,
                    CancelReason.UNFILLED,
                    False,
                )
            )
            return events
        self._rest(
            _Order(
                cmd.order_id,
                cmd.account,
                cmd.client_order_id,
                side,
                cmd.price,
                cmd.qty,
                taker.remaining,
                cmd.seq,
                order_type,
                stp,
            )
        )
        events.append(
            OrderRested(cmd.seq, cmd.order_id, cmd.account, side, cmd.price, taker.remaining)
        )
        return events

    def cancel(self, cmd: CancelOrder) -> list[Event]:
        self._last_seq = cmd.seq
        order = self._by_id.get(cmd.order_id)
        reason = self._ownership(order, cmd.account)
        if order is None or reason != RejectReason.NONE:
            return [OrderRejected(cmd.seq, cmd.order_id, cmd.account, "", reason)]
        self._remove(order)
        return [
            OrderCancelled(
                cmd.seq,
                order.order_id,
                order.account,
                order.side,
                order.price,
                order.remaining,
                CancelReason.REQUESTED,
                True,
            )
        ]

    def amend(self, cmd: AmendOrder) -> list[Event]:
        self._last_seq = cmd.seq
        order = self._by_id.get(cmd.order_id)
        reason = self._ownership(order, cmd.account)
        if order is None or reason != RejectReason.NONE:
            return [OrderRejected(cmd.seq, cmd.order_id, cmd.account, "", reason)]
        reason = validate_amend_values(
            self.instrument, cmd.qty, cmd.price, order.remaining, order.price
        )
        new_qty = cmd.qty or order.remaining
        new_price = cmd.price or order.price
        if (
            reason == RejectReason.NONE
            and order.order_type == OrderType.POST_ONLY
            and self._meets_opposite(order.side, new_price)
        ):
            reason = RejectReason.POST_ONLY_WOULD_TAKE
        if reason != RejectReason.NONE:
            # The owner's own order: the reject names its client order id (only a stranger's
            # or an unknown id gets an empty one, above).
            return [
                OrderRejected(cmd.seq, cmd.order_id, cmd.account, order.client_order_id, reason)
            ]

        old_price, old_remaining = order.price, order.remaining
        if new_price == old_price and new_qty < old_remaining:
            self._levels[order.side][order.price].total_qty -= old_remaining - new_qty
            order.remaining = new_qty
            return [
                OrderAmended(
                    cmd.seq,
                    order.order_id,
                    order.account,
                    order.side,
                    old_price,
                    old_remaining,
                    new_price,
                    new_qty,
                    True,
                )
            ]

        self._remove(order)
        events: list[Event] = [
            OrderAmended(
                cmd.seq,
                order.order_id,
                order.account,
                order.side,
                old_price,
                old_remaining,
                new_price,
                new_qty,
                False,
            )
        ]
        taker = _Taker(order.order_id, order.account, order.side, new_price, new_qty, order.stp)
        taker_cancelled = self._match(cmd.seq, taker, events)
        if taker_cancelled or taker.remaining == 0:
            return events
        order.price = new_price
        order.qty = new_qty
        order.remaining = taker.remaining
        order.priority = cmd.seq
        self._rest(order)
        events.append(
            OrderRested(
                cmd.seq, order.order_id, order.account, order.side, new_price, taker.remaining
            )
        )
        return events

    # ------------------------------------------------------------------ queries

    def best_bid(self) -> int | None:
        return max(self._levels[Side.BUY], default=None)

    def best_ask(self) -> int | None:
        return min(self._levels[Side.SELL], default=None)

    def level(self, side: Side, price: int) -> Level:
        found = self._levels[side].get(price)
        if found is None:
            return Level(price, 0, 0)
        return Level(price, found.total_qty, len(found.orders))

    def depth(self, side: Side, levels: int) -> list[Level]:
        return [self.level(side, price) for price in self._prices_best_first(side)[:levels]]

    def get_order(self, order_id: int) -> RestingOrder | None:
        order = self._by_id.get(order_id)
        return None if order is None else order.view()

    def orders(self) -> Iterator[RestingOrder]:
        for side in (Side.BUY, Side.SELL):
            for price in self._prices_best_first(side):
                for order in self._levels[side][price].orders:
                    yield order.view()

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def next_trade_id(self) -> int:
        return self._next_trade_id

    def state_hash(self) -> str:
        return hash_book(self.instrument.symbol, self._last_seq, self._next_trade_id, self.orders())

    def snapshot(self) -> BookSnapshot:
        return BookSnapshot(
            self.instrument.symbol, self._last_seq, self._next_trade_id, tuple(self.orders())
        )

    def restore(self, snapshot: BookSnapshot) -> None:
        """Start from empty and rest every order of ``snapshot`` in ``orders()`` order."""
        check_snapshot(self.instrument, snapshot)
        self._levels = {Side.BUY: {}, Side.SELL: {}}
        self._by_id = {}
        for o in snapshot.orders:
            self._rest(
                _Order(
                    o.order_id,
                    o.account,
                    o.client_order_id,
                    Side(o.side),
                    o.price,
                    o.qty,
                    o.remaining,
                    o.priority,
                    OrderType(o.order_type),
                    SelfTradePrevention(o.stp),
                )
            )
        self._last_seq = snapshot.last_seq
        self._next_trade_id = snapshot.next_trade_id

    def check_invariants(self) -> None:
        seen: set[int] = set()
        for side in (Side.BUY, Side.SELL):
            for price, level in self._levels[side].items():
                if level.price != price:
                    raise InvariantError(f"{side.name} level keyed {price} says {level.price}")
                if not level.orders:
                    raise InvariantError(f"{side.name} level {price} is empty")
                if level.total_qty != sum(o.remaining for o in level.orders):
                    raise InvariantError(f"{side.name} level {price} total is off")
                previous_priority: int | None = None
                for order in level.orders:
                    if order.order_id in seen:
                        raise InvariantError(f"order {order.order_id} rests twice")
                    seen.add(order.order_id)
                    if self._by_id.get(order.order_id) is not order:
                        raise InvariantError(f"order {order.order_id} is not indexed")
                    if order.side != side or order.price != price:
                        raise InvariantError(f"order {order.order_id} sits on the wrong level")
                    if order.remaining <= 0:
                        raise InvariantError(f"order {order.order_id} has nothing left")
                    if previous_priority is not None and order.priority <= previous_priority:
                        raise InvariantError(f"{side.name} level {price} is out of time order")
                    previous_priority = order.priority
        if seen != set(self._by_id):
            raise InvariantError("the id index holds orders that are not on a level")
        bid, ask = self.best_bid(), self.best_ask()
        if bid is not None and ask is not None and bid >= ask:
            raise InvariantError(f"crossed book: bid {bid} >= ask {ask}")

    # ------------------------------------------------------------------ helpers

    def _ownership(self, order: _Order | None, account: str) -> RejectReason:
        if order is None:
            return RejectReason.UNKNOWN_ORDER
        if order.account != account:
            return RejectReason.NOT_ORDER_OWNER
        return RejectReason.NONE

    def _best(self, side: Side) -> int | None:
        return self.best_bid() if side == Side.BUY else self.best_ask()

    def _prices_best_first(self, side: Side) -> list[int]:
        return sorted(self._levels[side], reverse=side == Side.BUY)

    def _meets_opposite(self, side: Side, price: int) -> bool:
        """Whether an order at ``price`` would reach the best opposite order (post-only)."""
        best = self._best(_opposite(side))
        return best is not None and _price_reaches(side, price, best)

    def _book_check_new(self, cmd: NewOrder) -> RejectReason:
        """docs/book.md NewOrder step 2: rejects that need the book, before any change."""
        opposite = _opposite(Side(cmd.side))
        if cmd.order_type == OrderType.MARKET and self._best(opposite) is None:
            return RejectReason.NO_LIQUIDITY
        if cmd.order_type == OrderType.POST_ONLY and self._meets_opposite(
            Side(cmd.side), cmd.price
        ):
            return RejectReason.POST_ONLY_WOULD_TAKE
        if cmd.order_type == OrderType.FOK and self._fok_fillable_qty(cmd) < cmd.qty:
            return RejectReason.FOK_NOT_FILLABLE
        return RejectReason.NONE

    def _fok_fillable_qty(self, cmd: NewOrder) -> int:
        """How much a FOK would really trade, honouring its self-trade prevention mode."""
        side = Side(cmd.side)
        opposite = _opposite(side)
        fillable = 0
        for price in self._prices_best_first(opposite):
            if not _price_reaches(side, cmd.price, price):
                break
            for maker in self._levels[opposite][price].orders:
                if maker.account == cmd.account:
                    if cmd.stp == SelfTradePrevention.REJECT_INCOMING:
                        return fillable
                    continue
                fillable += maker.remaining
        return fillable

    def _match(self, seq: int, taker: _Taker, events: list[Event]) -> bool:
        """docs/book.md NewOrder step 4: trade ``taker`` against the opposite side.

        Returns True when self-trade prevention cancelled the taker (REJECT_INCOMING): the
        command ends there and nothing rests.
        """
        opposite = _opposite(taker.side)
        while taker.remaining > 0:
            best = self._best(opposite)
            if best is None or not _price_reaches(taker.side, taker.limit_price, best):
                return False
            maker = self._levels[opposite][best].orders[0]
            if maker.account == taker.account:
                if taker.stp == SelfTradePrevention.CANCEL_RESTING:
                    self._remove(maker)
                    events.append(
                        OrderCancelled(
                            seq,
                            maker.order_id,
                            maker.account,
                            maker.side,
                            maker.price,
                            maker.remaining,
                            CancelReason.SELF_TRADE,
                            True,
                        )
                    )
                    continue
                events.append(
                    OrderCancelled(
                        seq,
                        taker.order_id,
                        taker.account,
                        taker.side,
                        taker.limit_price or 0,
                        taker.remaining,
                        CancelReason.SELF_TRADE,
                        False,
                    )
                )
                return True
            qty = min(taker.remaining, maker.remaining)
            taker.remaining -= qty
            maker.remaining -= qty
            self._levels[opposite][best].total_qty -= qty
            events.append(
                Trade(
                    seq,
                    self._next_trade_id,
                    maker.price,
                    qty,
                    taker.side,
                    maker.order_id,
                    maker.account,
                    maker.remaining,
                    taker.order_id,
                    taker.account,
                    taker.remaining,
                )
            )
            self._next_trade_id += 1
            if maker.remaining == 0:
                self._remove(maker)
        return False

    def _rest(self, order: _Order) -> None:
        """Put ``order`` at the back of its level (creating the level if needed)."""
        level = self._levels[order.side].setdefault(order.price, _Level(order.price))
        level.orders.append(order)
        level.total_qty += order.remaining
        self._by_id[order.order_id] = order

    def _remove(self, order: _Order) -> None:
        """Take ``order`` off its level (dropping the level if it empties) and the index."""
        level = self._levels[order.side][order.price]
        level.orders.remove(order)
        level.total_qty -= order.remaining
        if not level.orders:
            del self._levels[order.side][order.price]
        del self._by_id[order.order_id]
