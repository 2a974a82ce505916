"""Requests on the wire: user values (``Decimal``, "buy", "ioc") to exact proto messages.

Conversion goes through the instrument's ``InstrumentSpec`` so a price is sent as the
canonical decimal of a whole number of ticks; a value off the grid is refused here, with
the same reject reason the exchange would give, before it costs a round trip. With
``check=False`` (the CLI's choice) values pass through untouched and the exchange judges.
A submit's quantity and price are also held to the instrument's bounds here (positive,
``min_qty..max_qty``, the price band), so that with checks on, every rule the spec
decides raises alike (``dome.client.errors`` has the rule).
"""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from dome.client.errors import OrderValueError, UnknownSymbolError
from dome.client.models import AmendOrder, CancelOrder, NewOrder
from dome.core.types import OrderType, RejectReason, SelfTradePrevention, Side
from dome.instrument_spec import ConversionError, InstrumentSpec
from dome.v1 import common_pb2, trading_pb2

_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_TYPES = {t.name.lower(): t for t in OrderType}


def parse_side(side: Side | str) -> Side:
    """``Side`` from an enum or its lowercase name."""
    if isinstance(side, Side):
        return side
    try:
        return _SIDES[side.lower()]
    except (KeyError, AttributeError):
        raise OrderValueError(
            RejectReason.INVALID_SIDE, f"side must be buy or sell, not {side!r}"
        ) from None


def parse_order_type(kind: OrderType | str) -> OrderType:
    """``OrderType`` from an enum or its lowercase name ("limit", "post_only", ...)."""
    if isinstance(kind, OrderType):
        return kind
    try:
        return _TYPES[kind.lower().replace("-", "_")]
    except (KeyError, AttributeError):
        message = f"order type must be one of {', '.join(_TYPES)}, not {kind!r}"
        raise OrderValueError(RejectReason.INVALID_ORDER_TYPE, message) from None


class Encoder:
    """Turns SDK actions into proto requests for a known set of instruments."""

    def __init__(self, specs: dict[str, InstrumentSpec], *, check: bool = True) -> None:
        self.specs = specs
        self.check = check

    def spec(self, symbol: str) -> InstrumentSpec:
        try:
            return self.specs[symbol]
        except KeyError:
            raise UnknownSymbolError(symbol) from None

    def price(self, symbol: str, price: Decimal | str | None, *, bounds: bool = False) -> str:
        """The canonical text of ``price``; with ``bounds`` (a submit's), inside the band."""
        if price is None or price == "":
            return ""
        if not self.check:
            return str(price)
        spec = self.spec(symbol)
        try:
            ticks = spec.price_to_ticks(price)
        except ConversionError as exc:
            raise OrderValueError(exc.reason, f"{symbol}: {exc}") from None
        if not bounds:
            return spec.ticks_to_price(ticks)
        if ticks <= 0:
            raise OrderValueError(RejectReason.PRICE_REQUIRED, f"{symbol}: price {price} <= 0")
        value = ticks * spec.tick_size
        low, high = spec.min_price, spec.max_price
        if (low is not None and value < low) or (high is not None and value > high):
            band = f"{low or spec.tick_size}..{high or 'any'}"
            message = f"{symbol}: price {price} outside {band}"
            raise OrderValueError(RejectReason.PRICE_OUT_OF_BAND, message)
        return spec.ticks_to_price(ticks)

    def qty(self, symbol: str, qty: Decimal | str | None, *, bounds: bool = False) -> str:
        """The canonical text of ``qty``; with ``bounds`` (a submit's), in min..max.

        An amend's quantity is judged by the exchange: lowering it below the minimum is
        allowed there, and 0 means "keep".
        """
        if qty is None or qty == "":
            return ""
        if not self.check:
            return str(qty)
        spec = self.spec(symbol)
        try:
            lots = spec.qty_to_lots(qty)
        except ConversionError as exc:
            raise OrderValueError(exc.reason, f"{symbol}: {exc}") from None
        if not bounds:
            return spec.lots_to_qty(lots)
        value = lots * spec.lot_size
        if lots <= 0:
            raise OrderValueError(RejectReason.QTY_NOT_POSITIVE, f"{symbol}: qty {qty} <= 0")
        if value < spec.min_qty:
            message = f"{symbol}: qty {qty} below the minimum {spec.min_qty}"
            raise OrderValueError(RejectReason.QTY_BELOW_MIN, message)
        if value > spec.max_qty:
            message = f"{symbol}: qty {qty} above the maximum {spec.max_qty}"
            raise OrderValueError(RejectReason.QTY_ABOVE_MAX, message)
        return spec.lots_to_qty(lots)

    def submit(self, order: NewOrder, client_order_id: str) -> trading_pb2.SubmitOrderRequest:
        stp: SelfTradePrevention | int = order.stp or 0
        return trading_pb2.SubmitOrderRequest(
            symbol=order.symbol,
            side=cast("common_pb2.Side.ValueType", parse_side(order.side)),
            type=cast("common_pb2.OrderType.ValueType", parse_order_type(order.type)),
            price=self.price(order.symbol, order.price, bounds=True),
            qty=self.qty(order.symbol, order.qty, bounds=True),
            client_order_id=client_order_id,
            stp=cast("common_pb2.SelfTradePrevention.ValueType", int(stp)),
        )

    def cancel(self, action: CancelOrder) -> trading_pb2.CancelOrderRequest:
        return trading_pb2.CancelOrderRequest(
            symbol=action.symbol,
            order_id=action.order_id,
            client_order_id=action.client_order_id,
        )

    def amend(self, action: AmendOrder) -> trading_pb2.AmendOrderRequest:
        return trading_pb2.AmendOrderRequest(
            symbol=action.symbol,
            order_id=action.order_id,
            qty=self.qty(action.symbol, action.qty),
            price=self.price(action.symbol, action.price),
        )
