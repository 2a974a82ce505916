"""Requests on the wire: user values (``Decimal``, "buy", "ioc") to exact proto messages.

Conversion goes through the instrument's ``InstrumentSpec`` so a price is sent as the
canonical decimal of a whole number of ticks; a value off the grid is refused here, with
the same reject reason the exchange would give, before it costs a round trip. With
``check=False`` (the CLI's choice) values pass through untouched and the exchange judges.
"""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from dome.client.errors import OrderValueError, UnknownSymbolError
from dome.client.models import AmendOrder, CancelOrder, NewOrder
from dome.core.types import OrderType, SelfTradePrevention, Side
from dome.instruments import ConversionError, InstrumentSpec
from dome.v1 import common_pb2, trading_pb2

_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_TYPES = {t.name.lower(): t for t in OrderType}


def parse_side(side: Side | str) -> Side:
    """``Side`` from an enum or its lowercase name."""
    if isinstance(side, Side):
        return side
    try:
        return _SIDES[side.lower()]
    except KeyError:
        raise ValueError(f"side must be buy or sell, not {side!r}") from None


def parse_order_type(kind: OrderType | str) -> OrderType:
    """``OrderType`` from an enum or its lowercase name ("limit", "post_only", ...)."""
    if isinstance(kind, OrderType):
        return kind
    try:
        return _TYPES[kind.lower().replace("-", "_")]
    except KeyError:
        raise ValueError(f"order type must be one of {', '.join(_TYPES)}, not {kind!r}") from None


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

    def price(self, symbol: str, price: Decimal | str | None) -> str:
        if price is None or price == "":
            return ""
        if not self.check:
            return str(price)
        spec = self.spec(symbol)
        try:
            return spec.ticks_to_price(spec.price_to_ticks(price))
        except ConversionError as exc:
            raise OrderValueError(exc.reason, f"{symbol}: {exc}") from None

    def qty(self, symbol: str, qty: Decimal | str | None) -> str:
        if qty is None or qty == "":
            return ""
        if not self.check:
            return str(qty)
        spec = self.spec(symbol)
        try:
            return spec.lots_to_qty(spec.qty_to_lots(qty))
        except ConversionError as exc:
            raise OrderValueError(exc.reason, f"{symbol}: {exc}") from None

    def submit(self, order: NewOrder, client_order_id: str) -> trading_pb2.SubmitOrderRequest:
        stp: SelfTradePrevention | int = order.stp or 0
        return trading_pb2.SubmitOrderRequest(
            symbol=order.symbol,
            side=cast("common_pb2.Side.ValueType", parse_side(order.side)),
            type=cast("common_pb2.OrderType.ValueType", parse_order_type(order.type)),
            price=self.price(order.symbol, order.price),
            qty=self.qty(order.symbol, order.qty),
            client_order_id=client_order_id,
            stp=cast("common_pb2.SelfTradePrevention.ValueType", int(stp)),
        )

    def cancel(self, action: CancelOrder) -> trading_pb2.CancelOrderRequest:
        return trading_pb2.CancelOrderRequest(symbol=action.symbol, order_id=action.order_id)

    def amend(self, action: AmendOrder) -> trading_pb2.AmendOrderRequest:
        return trading_pb2.AmendOrderRequest(
            symbol=action.symbol,
            order_id=action.order_id,
            qty=self.qty(action.symbol, action.qty),
            price=self.price(action.symbol, action.price),
        )
