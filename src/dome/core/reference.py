"""The readable order book: docs/book.md turned into code, step by step.

It is the executable spec that the native core (``dome_native.Book``) is compared with,
event for event and hash for hash, and the engine's core wherever the native one is not
built (``dome.cores``). Every rule is written in the order docs/book.md states it; when
this book and the native one disagree, read this one first.

Being the fallback core too, it keeps to data structures with the right complexity
rather than tricks; they live in ``dome.core.book_side`` (a side's price levels, each a
queue of orders in time priority), and this module holds the rules that run on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from dome.core.book_api import BookState, InvariantError, Level, RestingOrder, check_snapshot
from dome.core.book_side import BookSide, PriceLevel, QueuedOrder, price_reaches
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


@dataclass(slots=True)
class _Taker:
    """The order that is matching right now: a new order, or an amended one re-entering."""

    order_id: int
    account: str
    side: Side
    #: None for MARKET: any price will do.
    limit_price: int | None
    remaining: int
    stp: SelfTradePrevention


#: Side, order type and self-trade prevention mode by value: commands may carry plain
#: ints, and a dict lookup is cheaper than an enum call on every order.
_SIDE_OF: dict[int, Side] = {int(s): s for s in Side}
_TYPE_OF: dict[int, OrderType] = {int(t): t for t in OrderType}
_STP_OF: dict[int, SelfTradePrevention] = {int(m): m for m in SelfTradePrevention}

# The members every command compares with, bound once: on CPython 3.11 reading
# ``Side.BUY`` goes through the enum's metaclass and costs several times a local lookup.
_BUY = Side.BUY
_SELL = Side.SELL
_OPPOSITE = {_BUY: _SELL, _SELL: _BUY}
_NOT_REJECTED = RejectReason.NONE
_MARKET = OrderType.MARKET
_FOK = OrderType.FOK
_POST_ONLY = OrderType.POST_ONLY
#: What never rests: any remainder is cancelled (FOK's never exists, see ``place``).
_IMMEDIATE_TYPES = frozenset((OrderType.MARKET, OrderType.IOC, OrderType.FOK))


class ReferenceBook:
    """One symbol's order book, implementing ``dome.core.book_api.Book`` plainly.

    ``place`` is O(1) per fill plus O(log L) per level it opens or empties (L levels on
    a side), and a FOK's check walks what it could fill; ``cancel`` and an amend that
    keeps priority are O(1) (O(log L) when a level empties); ``depth(n)`` is O(n).

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
        self._sides = {Side.BUY: BookSide(Side.BUY), Side.SELL: BookSide(Side.SELL)}
        self._by_id: dict[int, QueuedOrder] = {}
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
        if reason == _NOT_REJECTED:
            reason = self._book_check_new(cmd)
        if reason != _NOT_REJECTED:
            return [OrderRejected(cmd.seq, cmd.order_id, cmd.account, cmd.client_order_id, reason)]

        side = _SIDE_OF[cmd.side]
        order_type = _TYPE_OF[cmd.order_type]
        stp = _STP_OF[cmd.stp]
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
            None if order_type == _MARKET else cmd.price,
            cmd.qty,
            stp,
        )
        taker_cancelled = self._match(cmd.seq, taker, events)
        if taker_cancelled or taker.remaining == 0:
            return events
        if order_type in _IMMEDIATE_TYPES:
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
            QueuedOrder(
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
        if order is None or reason != _NOT_REJECTED:
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
        if order is None or reason != _NOT_REJECTED:
            return [OrderRejected(cmd.seq, cmd.order_id, cmd.account, "", reason)]
        reason = validate_amend_values(
            self.instrument, cmd.qty, cmd.price, order.remaining, order.price
        )
        new_qty = cmd.qty or order.remaining
        new_price = cmd.price or order.price
        if (
            reason == _NOT_REJECTED
            and order.order_type == _POST_ONLY
            and self._meets_opposite(order.side, new_price)
        ):
            reason = RejectReason.POST_ONLY_WOULD_TAKE
        if reason != _NOT_REJECTED:
            # The owner's own order: the reject names its client order id (only a stranger's
            # or an unknown id gets an empty one, above).
            return [
                OrderRejected(cmd.seq, cmd.order_id, cmd.account, order.client_order_id, reason)
            ]

        old_price, old_remaining = order.price, order.remaining
        if new_price == old_price and new_qty < old_remaining:
            self._level_of(order).total_qty -= old_remaining - new_qty
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
        return self._best_price(Side.BUY)

    def best_ask(self) -> int | None:
        return self._best_price(Side.SELL)

    def level(self, side: Side, price: int) -> Level:
        found = self._sides[side].get(price)
        if found is None:
            return Level(price, 0, 0)
        return Level(price, found.total_qty, len(found.orders))

    def depth(self, side: Side, levels: int) -> list[Level]:
        best_first = islice(self._sides[side].best_first(), max(levels, 0))
        return [Level(lv.price, lv.total_qty, len(lv.orders)) for lv in best_first]

    def get_order(self, order_id: int) -> RestingOrder | None:
        order = self._by_id.get(order_id)
        return None if order is None else order.view()

    def orders(self) -> Iterator[RestingOrder]:
        for side in (Side.BUY, Side.SELL):
            for level in self._sides[side].best_first():
                for order in level.orders.values():
                    yield order.view()

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def next_trade_id(self) -> int:
        return self._next_trade_id

    def state_hash(self) -> str:
        return hash_book(self.instrument.symbol, self._last_seq, self._next_trade_id, self.orders())

    def snapshot(self) -> BookState:
        return BookState(
            self.instrument.symbol, self._last_seq, self._next_trade_id, tuple(self.orders())
        )

    def restore(self, snapshot: BookState) -> None:
        """Start from empty and rest every order of ``snapshot`` in ``orders()`` order."""
        check_snapshot(self.instrument, snapshot)
        self._sides = {Side.BUY: BookSide(Side.BUY), Side.SELL: BookSide(Side.SELL)}
        self._by_id = {}
        for o in snapshot.orders:
            self._rest(
                QueuedOrder(
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
            self._sides[side].check(self._by_id, seen)
        if seen != set(self._by_id):
            raise InvariantError("the id index holds orders that are not on a level")
        bid, ask = self.best_bid(), self.best_ask()
        if bid is not None and ask is not None and bid >= ask:
            raise InvariantError(f"crossed book: bid {bid} >= ask {ask}")

    # ------------------------------------------------------------------ helpers

    def _ownership(self, order: QueuedOrder | None, account: str) -> RejectReason:
        if order is None:
            return RejectReason.UNKNOWN_ORDER
        if order.account != account:
            return RejectReason.NOT_ORDER_OWNER
        return _NOT_REJECTED

    def _best_price(self, side: Side) -> int | None:
        best = self._sides[side].best
        return None if best is None else best.price

    def _level_of(self, order: QueuedOrder) -> PriceLevel:
        level = self._sides[order.side].get(order.price)
        assert level is not None, f"order {order.order_id} rests on no level"
        return level

    def _meets_opposite(self, side: Side, price: int) -> bool:
        """Whether an order at ``price`` would reach the best opposite order (post-only)."""
        best = self._best_price(_OPPOSITE[side])
        return best is not None and price_reaches(side, price, best)

    def _book_check_new(self, cmd: NewOrder) -> RejectReason:
        """docs/book.md NewOrder step 2: rejects that need the book, before any change."""
        if cmd.order_id in self._by_id:
            # Only a corrupt or hostile log repeats an id (ids are sequence numbers);
            # resting it would leave two orders under one id.
            return RejectReason.ORDER_ID_IN_USE
        opposite = _OPPOSITE[_SIDE_OF[cmd.side]]
        if cmd.order_type == _MARKET and self._sides[opposite].best is None:
            return RejectReason.NO_LIQUIDITY
        if cmd.order_type == _POST_ONLY and self._meets_opposite(_SIDE_OF[cmd.side], cmd.price):
            return RejectReason.POST_ONLY_WOULD_TAKE
        if cmd.order_type == _FOK and self._fok_fillable_qty(cmd) < cmd.qty:
            return RejectReason.FOK_NOT_FILLABLE
        return _NOT_REJECTED

    def _fok_fillable_qty(self, cmd: NewOrder) -> int:
        """How much a FOK would really trade, honouring its self-trade prevention mode."""
        side = _SIDE_OF[cmd.side]
        fillable = 0
        for level in self._sides[_OPPOSITE[side]].best_first():
            if not price_reaches(side, cmd.price, level.price):
                break
            for maker in level.orders.values():
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
        opposite = self._sides[_OPPOSITE[taker.side]]
        while taker.remaining > 0:
            best = opposite.best
            if best is None or not price_reaches(taker.side, taker.limit_price, best.price):
                return False
            maker = best.first()
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
            best.total_qty -= qty
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

    def _rest(self, order: QueuedOrder) -> None:
        """Put ``order`` at the back of its level (creating the level if needed)."""
        side = self._sides[order.side]
        level = side.get(order.price) or side.add(order.price)
        level.orders[order.order_id] = order
        level.total_qty += order.remaining
        self._by_id[order.order_id] = order

    def _remove(self, order: QueuedOrder) -> None:
        """Take ``order`` off its level (dropping the level if it empties) and the index."""
        level = self._level_of(order)
        del level.orders[order.order_id]
        level.total_qty -= order.remaining
        if not level.orders:
            self._sides[order.side].drop(order.price)
        del self._by_id[order.order_id]
