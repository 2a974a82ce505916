"""Static checks of a command against an instrument, shared by every book implementation.

These checks need nothing but the command and the instrument; checks that need the book
(unknown order, post-only crossing, fill-or-kill) live in the books themselves.
"""

from __future__ import annotations

from dome.core.commands import NewOrder
from dome.core.instrument import Instrument
from dome.core.types import OrderType, RejectReason, SelfTradePrevention, Side

#: Longest client order id, in characters.
MAX_CLIENT_ORDER_ID = 64

_SIDES = frozenset(int(s) for s in Side)
_TYPES = frozenset(int(t) for t in OrderType)
_STPS = frozenset(int(m) for m in SelfTradePrevention)
# Bound once: every order reaches them, and on CPython 3.11 an enum member read through
# its class costs several times a module global.
_NONE = RejectReason.NONE
_MARKET = OrderType.MARKET


def client_order_id_ok(client_order_id: str) -> bool:
    """Printable ASCII, at most ``MAX_CLIENT_ORDER_ID`` characters (empty is allowed).

    >>> client_order_id_ok("bot-1/42"), client_order_id_ok("x" * 65)
    (True, False)
    """
    return len(client_order_id) <= MAX_CLIENT_ORDER_ID and (
        not client_order_id or (client_order_id.isascii() and client_order_id.isprintable())
    )


def validate_new(instrument: Instrument, cmd: NewOrder) -> RejectReason:
    """The first rule ``cmd`` breaks, in a fixed order, or ``RejectReason.NONE``.

    >>> from dome.core.commands import NewOrder
    >>> cmd = NewOrder(1, 0, 1, "a", "", Side.BUY, OrderType.LIMIT, 100, 0)
    >>> validate_new(Instrument("XYZ"), cmd).name
    'QTY_NOT_POSITIVE'
    """
    if cmd.side not in _SIDES:
        return RejectReason.INVALID_SIDE
    if cmd.order_type not in _TYPES:
        return RejectReason.INVALID_ORDER_TYPE
    if cmd.stp not in _STPS:
        return RejectReason.INVALID_STP
    if not client_order_id_ok(cmd.client_order_id):
        return RejectReason.INVALID_CLIENT_ORDER_ID
    qty = cmd.qty
    if qty <= 0:
        return RejectReason.QTY_NOT_POSITIVE
    if qty < instrument.min_qty:
        return RejectReason.QTY_BELOW_MIN
    if qty > instrument.max_qty:
        return RejectReason.QTY_ABOVE_MAX
    price = cmd.price
    if cmd.order_type == _MARKET:
        if price != 0:
            return RejectReason.PRICE_NOT_ALLOWED
        return _NONE
    if price <= 0:
        return RejectReason.PRICE_REQUIRED
    if price < instrument.min_price or price > instrument.max_price:
        return RejectReason.PRICE_OUT_OF_BAND
    return _NONE


def validate_amend_values(
    instrument: Instrument, qty: int, price: int, current_qty: int, current_price: int
) -> RejectReason:
    """Checks of an amend's new values (0 means "keep") before the book is consulted.

    Lowering an open quantity below the instrument minimum is allowed (it only reduces
    risk); raising it must respect the bounds.
    """
    if qty < 0:
        return RejectReason.QTY_NOT_POSITIVE
    if price < 0:
        return RejectReason.PRICE_OUT_OF_BAND
    new_qty = qty or current_qty
    new_price = price or current_price
    if new_qty == current_qty and new_price == current_price:
        return RejectReason.AMEND_NO_CHANGE
    if new_qty > instrument.max_qty:
        return RejectReason.QTY_ABOVE_MAX
    if new_qty > current_qty and new_qty < instrument.min_qty:
        return RejectReason.QTY_BELOW_MIN
    if new_price < instrument.min_price or new_price > instrument.max_price:
        return RejectReason.PRICE_OUT_OF_BAND
    return RejectReason.NONE
