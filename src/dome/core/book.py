"""The fast order book: the same rules as ``ReferenceBook``, shaped for CPython's speed.

How it is fast, and why it stays right:

- An order is a small list (``_ID`` … ``_STP`` index it): list item access is the
  cheapest mutable record CPython has. Orders never leave this module as lists; readers
  get ``RestingOrder`` tuples.
- A level is a deque of orders in time priority plus its open quantity and order count.
  A cancel marks the order dead (remaining 0) and leaves it in the deque, so a cancel is
  O(1); matching drops dead orders when they reach the front, and a level whose count
  reaches 0 is dropped whole.
- Each side keeps its prices in a heap (bids negated, so the smallest key is the best
  price on both sides). A heap entry whose level is gone is stale and is popped when it
  surfaces; a set of the keys in the heap keeps each price in it at most once, so stale
  entries cannot pile up.
- Events are built with ``tuple.__new__`` on the event classes: the same immutable
  NamedTuples, at half the cost of their generated constructors.

Matching is written once for both sides by comparing heap keys, never prices:
a taker crosses a level when ``key <= limit_key`` (``limit_key`` is the price for a buy
and minus the price for a sell).

The contract suite in ``tests/unit/core`` runs this book and ``ReferenceBook`` through
the same scenarios, a hypothesis state machine compares them event by event, and the
``check_invariants`` method is called after every step there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from heapq import heappop, heappush
from typing import Any, cast

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
from dome.core.validation import client_order_id_ok, validate_amend_values, validate_new

# Fields of an order record.
_ID, _ACCOUNT, _CLIENT_ID, _SIDE, _PRICE, _QTY, _REMAINING, _PRIORITY, _TYPE, _STP = range(10)

_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_IOC = OrderType.IOC
_FOK = OrderType.FOK
_POST_ONLY = OrderType.POST_ONLY
_CANCEL_RESTING = SelfTradePrevention.CANCEL_RESTING
_REQUESTED = CancelReason.REQUESTED
_UNFILLED = CancelReason.UNFILLED
_SELF_TRADE = CancelReason.SELF_TRADE
_NONE = RejectReason.NONE
_SIDES = frozenset((_BUY, _SELL))
_STPS = frozenset(SelfTradePrevention)
_PRICED_TYPES = frozenset((_LIMIT, _IOC, _FOK, _POST_ONLY))
_RESTING_TYPES = frozenset((_LIMIT, _POST_ONLY))
#: A limit key no level reaches: what a market order "limits" itself to.
_NO_LIMIT = 1 << 64

# tuple.__new__ builds a NamedTuple without running its Python-level constructor.
_new: Any = tuple.__new__


class _Side:
    """One side of the book: levels by price, their keys in a heap."""

    __slots__ = ("heap", "in_heap", "levels", "sign")

    def __init__(self, sign: int) -> None:
        #: +1 for asks (key = price), -1 for bids (key = -price).
        self.sign = sign
        self.levels: dict[int, _Level] = {}
        self.heap: list[int] = []
        self.in_heap: set[int] = set()

    def best_key(self) -> int | None:
        """Key of the best live level, popping stale heap entries on the way."""
        heap = self.heap
        levels = self.levels
        sign = self.sign
        while heap:
            key = heap[0]
            if key * sign in levels:
                return key
            heappop(heap)
            self.in_heap.discard(key)
        return None

    def add_level(self, price: int, order: list[Any]) -> _Level:
        level = _Level(order)
        self.levels[price] = level
        key = price * self.sign
        if key not in self.in_heap:
            self.in_heap.add(key)
            heappush(self.heap, key)
        return level

    def sorted_prices(self) -> list[int]:
        """Live prices, best first."""
        return sorted(self.levels, reverse=self.sign < 0)


class _Level:
    """Orders at one price in time priority; dead (cancelled) ones may linger inside."""

    __slots__ = ("count", "orders", "qty")

    def __init__(self, order: list[Any]) -> None:
        self.orders: deque[list[Any]] = deque((order,))
        self.qty: int = order[_REMAINING]
        self.count: int = 1

    def live(self) -> Iterator[list[Any]]:
        return (o for o in self.orders if o[_REMAINING] > 0)


class OrderBook:
    """Price-time priority limit order book for one instrument (see docs/book.md).

    Commands in, events out; no clock, randomness or I/O. Place is O(log L) in the
    number of price levels plus O(1) per trade; cancel is O(1); priority-keeping amend
    is O(1).

    >>> from dome.core.commands import NewOrder
    >>> book = OrderBook(Instrument("XYZ"))
    >>> _ = book.place(NewOrder(1, 0, 1, "alice", "", Side.SELL, OrderType.LIMIT, 101, 5))
    >>> [type(e).__name__ for e in book.place(
    ...     NewOrder(2, 0, 2, "bob", "", Side.BUY, OrderType.LIMIT, 102, 3))]
    ['OrderAccepted', 'Trade']
    >>> book.best_ask(), book.level(Side.SELL, 101).qty
    (101, 2)
    """

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self._bids = _Side(-1)
        self._asks = _Side(1)
        self._orders: dict[int, list[Any]] = {}
        self._last_seq = 0
        self._next_trade_id = 1

    # -- commands ----------------------------------------------------------------------

    def apply(self, cmd: Command) -> list[Event]:
        """Dispatch any command; anything else is a programming error (``TypeError``)."""
        kind = type(cmd)
        if kind is NewOrder:
            return self.place(cast(NewOrder, cmd))
        if kind is CancelOrder:
            return self.cancel(cast(CancelOrder, cmd))
        if kind is AmendOrder:
            return self.amend(cast(AmendOrder, cmd))
        raise TypeError(f"not a book command: {cmd!r}")

    def place(self, cmd: NewOrder) -> list[Event]:
        """Validate and execute a new order."""
        seq, _, order_id, account, client_id, side, order_type, price, qty, stp = cmd
        self._last_seq = seq
        inst = self.instrument
        # The common valid LIMIT/IOC/FOK/POST_ONLY order skips the full rule walk; anything
        # else takes it, so rejects still come out in validate_new's order.
        if not (
            order_type in _PRICED_TYPES
            and qty > 0
            and inst.min_qty <= qty <= inst.max_qty
            and price > 0
            and inst.min_price <= price <= inst.max_price
            and side in _SIDES
            and stp in _STPS
            and (not client_id or client_order_id_ok(client_id))
        ):
            reason = validate_new(inst, cmd)
            if reason is not _NONE:
                return [_new(OrderRejected, (seq, order_id, account, client_id, reason))]
        buy = side == _BUY
        opposite = self._asks if buy else self._bids
        if order_type == _LIMIT:
            limit_key = price if buy else -price
        elif order_type == _MARKET:
            limit_key = _NO_LIMIT
            if opposite.best_key() is None:
                return [
                    _new(
                        OrderRejected,
                        (seq, order_id, account, client_id, RejectReason.NO_LIQUIDITY),
                    )
                ]
        else:
            limit_key = price if buy else -price
            if order_type == _POST_ONLY:
                best = opposite.best_key()
                if best is not None and best <= limit_key:
                    return [
                        _new(
                            OrderRejected,
                            (seq, order_id, account, client_id, RejectReason.POST_ONLY_WOULD_TAKE),
                        )
                    ]
            elif order_type == _FOK and not self._fillable(opposite, limit_key, account, qty, stp):
                return [
                    _new(
                        OrderRejected,
                        (seq, order_id, account, client_id, RejectReason.FOK_NOT_FILLABLE),
                    )
                ]
        events: list[Event] = [
            _new(
                OrderAccepted,
                (seq, order_id, account, client_id, side, order_type, price, qty),
            )
        ]
        order = [order_id, account, client_id, side, price, qty, qty, seq, order_type, stp]
        heap = opposite.heap
        if heap and heap[0] <= limit_key:
            remaining = self._match(seq, order, opposite, limit_key, events)
            if remaining <= 0:
                return events
        else:
            remaining = qty
        if order_type in _RESTING_TYPES:
            # Resting, inlined: this is the path most orders take.
            own = self._bids if buy else self._asks
            level = own.levels.get(price)
            if level is None:
                own.add_level(price, order)
            else:
                level.orders.append(order)
                level.qty += remaining
                level.count += 1
            self._orders[order_id] = order
            events.append(_new(OrderRested, (seq, order_id, account, side, price, remaining)))
        else:
            events.append(
                _new(
                    OrderCancelled,
                    (seq, order_id, account, side, price, remaining, _UNFILLED, False),
                )
            )
        return events

    def cancel(self, cmd: CancelOrder) -> list[Event]:
        """Cancel an open order of the command's account."""
        seq, _, account, order_id = cmd
        self._last_seq = seq
        order = self._orders.get(order_id)
        if order is None:
            reason = RejectReason.UNKNOWN_ORDER
        elif order[_ACCOUNT] != account:
            reason = RejectReason.NOT_ORDER_OWNER
        else:
            remaining = order[_REMAINING]
            self._unlink(order)
            return [
                _new(
                    OrderCancelled,
                    (
                        seq,
                        order_id,
                        account,
                        order[_SIDE],
                        order[_PRICE],
                        remaining,
                        _REQUESTED,
                        True,
                    ),
                )
            ]
        return [_new(OrderRejected, (seq, order_id, account, "", reason))]

    def amend(self, cmd: AmendOrder) -> list[Event]:
        """Change price and/or open quantity of an open order of the command's account."""
        seq, _, account, order_id, qty, price = cmd
        self._last_seq = seq
        order = self._orders.get(order_id)
        if order is None:
            return [_new(OrderRejected, (seq, order_id, account, "", RejectReason.UNKNOWN_ORDER))]
        client_id = order[_CLIENT_ID]
        if order[_ACCOUNT] != account:
            return [_new(OrderRejected, (seq, order_id, account, "", RejectReason.NOT_ORDER_OWNER))]
        old_price = order[_PRICE]
        old_remaining = order[_REMAINING]
        reason = validate_amend_values(self.instrument, qty, price, old_remaining, old_price)
        side = order[_SIDE]
        buy = side == _BUY
        opposite = self._asks if buy else self._bids
        new_qty = qty or old_remaining
        new_price = price or old_price
        limit_key = new_price if buy else -new_price
        if reason is _NONE and order[_TYPE] == _POST_ONLY:
            best = opposite.best_key()
            if best is not None and best <= limit_key:
                reason = RejectReason.POST_ONLY_WOULD_TAKE
        if reason is not _NONE:
            return [_new(OrderRejected, (seq, order_id, account, client_id, reason))]
        if new_price == old_price and new_qty < old_remaining:
            order[_REMAINING] = new_qty
            level = (self._bids if buy else self._asks).levels[old_price]
            level.qty -= old_remaining - new_qty
            return [
                _new(
                    OrderAmended,
                    (
                        seq,
                        order_id,
                        account,
                        side,
                        old_price,
                        old_remaining,
                        old_price,
                        new_qty,
                        True,
                    ),
                )
            ]
        self._unlink(order)
        events: list[Event] = [
            _new(
                OrderAmended,
                (seq, order_id, account, side, old_price, old_remaining, new_price, new_qty, False),
            )
        ]
        fresh = [
            order_id, account, client_id, side, new_price, new_qty, new_qty, seq,
            order[_TYPE], order[_STP],
        ]  # fmt: skip
        if self._match(seq, fresh, opposite, limit_key, events) > 0:
            self._rest(fresh, events)
        return events

    # -- matching ----------------------------------------------------------------------

    def _match(
        self, seq: int, taker: list[Any], book: _Side, limit_key: int, events: list[Event]
    ) -> int:
        """Trade ``taker`` against ``book`` up to ``limit_key``.

        Returns the taker's remaining quantity, or -1 when self-trade prevention
        cancelled the rest of the taker (nothing may rest then).
        """
        remaining: int = taker[_REMAINING]
        heap = book.heap
        if not heap:
            return remaining
        levels = book.levels
        sign = book.sign
        orders = self._orders
        append = events.append
        taker_id = taker[_ID]
        account = taker[_ACCOUNT]
        side = taker[_SIDE]
        cancel_resting = taker[_STP] == _CANCEL_RESTING
        trade_id = self._next_trade_id
        while heap:
            key = heap[0]
            if key > limit_key:
                break
            price = key * sign
            level = levels.get(price)
            if level is None:
                heappop(heap)
                book.in_heap.discard(key)
                continue
            queue = level.orders
            while queue:
                maker = queue[0]
                available = maker[_REMAINING]
                if available == 0:
                    queue.popleft()
                    continue
                if maker[_ACCOUNT] == account:
                    if not cancel_resting:
                        taker[_REMAINING] = remaining
                        self._next_trade_id = trade_id
                        append(
                            _new(
                                OrderCancelled,
                                (seq, taker_id, account, side, taker[_PRICE], remaining,
                                 _SELF_TRADE, False),
                            )
                        )  # fmt: skip
                        return -1
                    queue.popleft()
                    maker[_REMAINING] = 0
                    del orders[maker[_ID]]
                    level.qty -= available
                    level.count -= 1
                    append(
                        _new(
                            OrderCancelled,
                            (seq, maker[_ID], account, maker[_SIDE], price, available,
                             _SELF_TRADE, True),
                        )
                    )  # fmt: skip
                    continue
                if available <= remaining:
                    remaining -= available
                    traded = available
                    maker[_REMAINING] = 0
                    queue.popleft()
                    del orders[maker[_ID]]
                    level.count -= 1
                    left = 0
                else:
                    traded = remaining
                    left = available - remaining
                    maker[_REMAINING] = left
                    remaining = 0
                level.qty -= traded
                append(
                    _new(
                        Trade,
                        (seq, trade_id, price, traded, side, maker[_ID], maker[_ACCOUNT], left,
                         taker_id, account, remaining),
                    )
                )  # fmt: skip
                trade_id += 1
                if remaining == 0:
                    break
            if level.count == 0:
                self._drop_level(book, price, key)
            if remaining == 0:
                break
        self._next_trade_id = trade_id
        taker[_REMAINING] = remaining
        return remaining

    def _fillable(
        self, book: _Side, limit_key: int, account: str, qty: int, stp: SelfTradePrevention
    ) -> bool:
        """Whether ``qty`` could trade in full right now (fill-or-kill pre-check)."""
        sign = book.sign
        levels = book.levels
        for price in book.sorted_prices():
            if price * sign > limit_key:
                break
            for order in levels[price].live():
                if order[_ACCOUNT] == account:
                    if stp == _CANCEL_RESTING:
                        continue
                    return False
                qty -= order[_REMAINING]
                if qty <= 0:
                    return True
        return False

    def _rest(self, order: list[Any], events: list[Event]) -> None:
        price = order[_PRICE]
        side = order[_SIDE]
        book = self._bids if side == _BUY else self._asks
        level = book.levels.get(price)
        remaining = order[_REMAINING]
        if level is None:
            book.add_level(price, order)
        else:
            level.orders.append(order)
            level.qty += remaining
            level.count += 1
        self._orders[order[_ID]] = order
        events.append(
            _new(
                OrderRested, (order[_PRIORITY], order[_ID], order[_ACCOUNT], side, price, remaining)
            )
            # A resting order's priority is the seq of the command that placed it.
        )

    def _unlink(self, order: list[Any]) -> None:
        """Take a resting order off the book in O(1): it stays in its deque, dead."""
        del self._orders[order[_ID]]
        price = order[_PRICE]
        book = self._bids if order[_SIDE] == _BUY else self._asks
        level = book.levels[price]
        level.qty -= order[_REMAINING]
        level.count -= 1
        order[_REMAINING] = 0
        if level.count == 0:
            # The heap entry turns stale and is popped when it surfaces.
            del book.levels[price]

    @staticmethod
    def _drop_level(book: _Side, price: int, key: int) -> None:
        del book.levels[price]
        if book.heap and book.heap[0] == key:
            heappop(book.heap)
            book.in_heap.discard(key)

    # -- queries -----------------------------------------------------------------------

    def best_bid(self) -> int | None:
        key = self._bids.best_key()
        return None if key is None else -key

    def best_ask(self) -> int | None:
        return self._asks.best_key()

    def level(self, side: Side, price: int) -> Level:
        level = (self._bids if side == _BUY else self._asks).levels.get(price)
        if level is None:
            return Level(price, 0, 0)
        return Level(price, level.qty, level.count)

    def depth(self, side: Side, levels: int) -> list[Level]:
        book = self._bids if side == _BUY else self._asks
        out: list[Level] = []
        for price in book.sorted_prices()[: max(levels, 0)]:
            level = book.levels[price]
            out.append(Level(price, level.qty, level.count))
        return out

    def get_order(self, order_id: int) -> RestingOrder | None:
        order = self._orders.get(order_id)
        return None if order is None else _view(order)

    def orders(self) -> Iterator[RestingOrder]:
        for book in (self._bids, self._asks):
            for price in book.sorted_prices():
                for order in book.levels[price].live():
                    yield _view(order)

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def next_trade_id(self) -> int:
        return self._next_trade_id

    def state_hash(self) -> str:
        return hash_book(self.instrument.symbol, self._last_seq, self._next_trade_id, self.orders())

    # -- snapshots ---------------------------------------------------------------------

    def snapshot(self) -> BookSnapshot:
        """The whole state as plain data; dead orders and stale heap keys are left out."""
        return BookSnapshot(
            self.instrument.symbol, self._last_seq, self._next_trade_id, tuple(self.orders())
        )

    def restore(self, snapshot: BookSnapshot) -> None:
        """Rebuild levels, heaps and index from ``snapshot`` (``ValueError`` if inconsistent).

        Orders come in ``orders()`` order, so appending each to its level rebuilds every
        queue in time priority; the heaps start without stale keys, which no reader sees.
        """
        check_snapshot(self.instrument, snapshot)
        self._bids = _Side(-1)
        self._asks = _Side(1)
        self._orders = {}
        for o in snapshot.orders:
            side = Side(o.side)
            order = [
                o.order_id, o.account, o.client_order_id, side, o.price, o.qty, o.remaining,
                o.priority, OrderType(o.order_type), SelfTradePrevention(o.stp),
            ]  # fmt: skip
            own = self._bids if side == _BUY else self._asks
            level = own.levels.get(o.price)
            if level is None:
                own.add_level(o.price, order)
            else:
                level.orders.append(order)
                level.qty += o.remaining
                level.count += 1
            self._orders[o.order_id] = order
        self._last_seq = snapshot.last_seq
        self._next_trade_id = snapshot.next_trade_id

    def check_invariants(self) -> None:
        """Raise ``InvariantError`` when the structures disagree with each other."""
        seen: set[int] = set()
        for book, side in ((self._bids, _BUY), (self._asks, _SELL)):
            live_keys = {price * book.sign for price in book.levels}
            _require(live_keys <= book.in_heap, f"{side.name}: a level is missing from the heap")
            _require(set(book.heap) == book.in_heap, f"{side.name}: heap and key set disagree")
            _require(len(book.heap) == len(book.in_heap), f"{side.name}: duplicate heap keys")
            for price, level in book.levels.items():
                live = list(level.live())
                _require(live != [], f"{side.name} {price}: empty level kept")
                _require(level.count == len(live), f"{side.name} {price}: count is off")
                total = sum(o[_REMAINING] for o in live)
                _require(level.qty == total, f"{side.name} {price}: qty {level.qty} != {total}")
                priorities = [o[_PRIORITY] for o in live]
                _require(priorities == sorted(set(priorities)), f"{price}: priority out of order")
                for order in live:
                    _require(order[_SIDE] == side and order[_PRICE] == price, "order misfiled")
                    _require(self._orders.get(order[_ID]) is order, "order not indexed")
                    _require(order[_ID] not in seen, f"order {order[_ID]} on the book twice")
                    seen.add(order[_ID])
        _require(seen == set(self._orders), "index holds orders that are not on the book")
        bid, ask = self.best_bid(), self.best_ask()
        _require(bid is None or ask is None or bid < ask, f"crossed book: {bid} >= {ask}")
        bids, asks = self._bids.levels, self._asks.levels
        _require(bid == (max(bids) if bids else None), "best bid is not the highest level")
        _require(ask == (min(asks) if asks else None), "best ask is not the lowest level")


def _view(order: list[Any]) -> RestingOrder:
    return RestingOrder(
        order[_ID], order[_ACCOUNT], order[_CLIENT_ID], order[_SIDE], order[_PRICE],
        order[_QTY], order[_REMAINING], order[_PRIORITY], order[_TYPE], order[_STP],
    )  # fmt: skip


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantError(message)


__all__ = ["OrderBook"]
