"""Wire messages to engine requests and core events to wire messages (and answer rows).

The only place that knows both the proto classes and the core types. Decimal strings
become ticks and lots through the symbol's ``InstrumentSpec``, so a value that is off
the grid is refused with the same reason everywhere (``ConversionError``); ``Units``
remembers the conversions, because order flow repeats the same prices and sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from dome.core.book_api import Level
from dome.core.events import Event, Trade
from dome.core.outcome import Outcome, outcome
from dome.core.types import OrderStatus, OrderType, RejectReason, SelfTradePrevention, Side
from dome.engine.answers import Answer, FillRow
from dome.engine.requests import AmendRequest, CancelRequest, PlaceRequest
from dome.instrument_spec import ConversionError, InstrumentSpec
from dome.v1 import common_pb2 as pb
from dome.v1 import market_data_pb2 as md
from dome.v1 import trading_pb2 as tr

_SIDES = {int(s): s for s in Side}
_TYPES = {int(t): t for t in OrderType}
_STPS = {int(m): m for m in SelfTradePrevention}
#: ``tuple.__new__``: a ``PlaceRequest`` per order without its Python-level ``__new__``.
_new = tuple.__new__


#: Conversions remembered per instrument and direction (a few hundred KiB at most).
UNITS_CACHE_SIZE = 4_096


class Units:
    """One instrument's decimal text <-> ticks and lots, with recent answers remembered.

    Exact ``Decimal`` parsing and formatting cost more per order than matching it, and
    real flow uses a few hundred distinct prices and sizes near the touch, so bounded
    LRU caches (C ``functools.lru_cache``) answer almost every call. Only successful
    conversions are remembered: a bad value is checked afresh each time, and raises
    exactly as ``InstrumentSpec`` does. Values are plain strings and ints, so a cached
    answer is the same object ``InstrumentSpec`` would compute, never a shared mutable.

    >>> from dome.instrument_spec import DEFAULT_INSTRUMENTS
    >>> units = Units(DEFAULT_INSTRUMENTS[0])
    >>> units.price_to_ticks("30000.10"), units.price(3000010), units.qty(5)
    (3000010, '30000.1', '0.0005')
    """

    def __init__(self, spec: InstrumentSpec, size: int = UNITS_CACHE_SIZE) -> None:
        self.spec = spec
        self.price_to_ticks = lru_cache(maxsize=size)(spec.price_to_ticks)
        self.qty_to_lots = lru_cache(maxsize=size)(spec.qty_to_lots)
        #: Decimal text of a tick count (``InstrumentSpec.ticks_to_price``).
        self.price = lru_cache(maxsize=size)(spec.ticks_to_price)
        #: Decimal text of a lot count (``InstrumentSpec.lots_to_qty``).
        self.qty = lru_cache(maxsize=size)(spec.lots_to_qty)


class EdgeReject(Exception):
    """A request refused before it reaches a sequencer; carries the reject reason."""

    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason.message)
        self.reason = reason


def decode_submit(units: Units, account: str, msg: tr.SubmitOrderRequest) -> PlaceRequest:
    """A ``PlaceRequest`` in ticks and lots; ``EdgeReject`` for bad enums or decimals."""
    side = _SIDES.get(msg.side)
    if side is None:
        raise EdgeReject(RejectReason.INVALID_SIDE)
    order_type = _TYPES.get(msg.type)
    if order_type is None:
        raise EdgeReject(RejectReason.INVALID_ORDER_TYPE)
    stp = SelfTradePrevention.CANCEL_RESTING if msg.stp == 0 else _STPS.get(msg.stp)
    if stp is None:
        raise EdgeReject(RejectReason.INVALID_STP)
    # An empty price is "no price": the book then says PRICE_REQUIRED (or accepts a
    # market order), so that rule stays in one place.
    price = _ticks(units, msg.price) if msg.price else 0
    qty = _lots(units, msg.qty)
    return _new(PlaceRequest, (account, msg.client_order_id, side, order_type, price, qty, stp))


def _ticks(units: Units, text: str) -> int:
    try:
        return units.price_to_ticks(text)
    except ConversionError as exc:
        raise EdgeReject(exc.reason) from None
    except ArithmeticError:
        # Decimal gives up dividing a huge value (1e30) by the tick: it is out of any band.
        raise EdgeReject(RejectReason.PRICE_OUT_OF_BAND) from None


def _lots(units: Units, text: str) -> int:
    try:
        return units.qty_to_lots(text)
    except ConversionError as exc:
        raise EdgeReject(exc.reason) from None
    except ArithmeticError:
        raise EdgeReject(RejectReason.QTY_ABOVE_MAX) from None


def decode_cancel(account: str, msg: tr.CancelOrderRequest) -> CancelRequest:
    """A ``CancelRequest``."""
    return CancelRequest(account, msg.order_id)


def decode_amend(units: Units, account: str, msg: tr.AmendOrderRequest) -> AmendRequest:
    """An ``AmendRequest``; empty strings keep a value (0)."""
    qty = _lots(units, msg.qty) if msg.qty else 0
    price = _ticks(units, msg.price) if msg.price else 0
    return AmendRequest(account, msg.order_id, qty, price)


def answer(
    units: Units,
    order_id: int,
    client_order_id: str,
    events: Sequence[Event],
    duplicate: bool,
    status_override: OrderStatus | None = None,
    summary: Outcome | None = None,
) -> Answer:
    """The answer to one sequenced command, from its events (an ``OrderResult`` row).

    ``summary`` is ``outcome(order_id, events)`` when the caller has it already.
    """
    out = summary if summary is not None else outcome(order_id, events)
    qty = units.qty
    status = status_override if status_override is not None else out.status
    reason = out.reject_reason
    fills: tuple[FillRow, ...] = ()
    if out.fills:
        price = units.price
        fills = tuple(
            (ev.trade_id, price(ev.price), qty(ev.qty), ev.maker_order_id == order_id)
            for ev in events
            if type(ev) is Trade and order_id in (ev.maker_order_id, ev.taker_order_id)
        )
    return (units.spec.symbol, order_id, client_order_id, int(status), int(reason),
            reason.message if reason else "", qty(out.filled_qty), qty(out.remaining_qty),
            qty(out.cancelled_qty), fills, events[0].seq if events else 0,
            duplicate)  # fmt: skip


def price_level(units: Units, level: Level) -> pb.PriceLevel:
    """A level with decimal price and quantity."""
    return pb.PriceLevel(
        price=units.price(level.price),
        qty=units.qty(level.qty),
        order_count=level.count,
    )


def trade_event(units: Units, trade: Trade, timestamp_ns: int) -> md.TradeEvent:
    """The public view of a trade: no accounts, no order ids."""
    return md.TradeEvent(
        symbol=units.spec.symbol,
        seq=trade.seq,
        trade_id=trade.trade_id,
        price=units.price(trade.price),
        qty=units.qty(trade.qty),
        aggressor=pb.Side.ValueType(trade.aggressor),
        timestamp_ns=timestamp_ns,
    )


def instrument(spec: InstrumentSpec) -> pb.Instrument:
    """The wire form of an instrument's rules."""
    d = spec.to_dict()
    return pb.Instrument(
        symbol=spec.symbol,
        tick_size=d["tick_size"],
        lot_size=d["lot_size"],
        min_qty=d["min_qty"],
        max_qty=d["max_qty"],
        min_price=d.get("min_price", ""),
        max_price=d.get("max_price", ""),
    )
