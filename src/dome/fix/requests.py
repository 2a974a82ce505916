"""Incoming FIX application messages as typed requests, or the reject each one earns.

The session layer (QuickFIX with the FIX 4.4 data dictionary) has already refused what
the dictionary forbids: a tag missing that the dictionary requires, a value outside a
field's enumeration, a malformed number. What remains is what the dictionary cannot
know, in two kinds, as the FIX specification sorts them:

- a tag this exchange needs that the dictionary leaves optional (Symbol, OrderQty, Price
  of a limit order): ``SessionReject`` (session-level Reject, SessionRejectReason
  "required tag missing" or "incorrect data format", with RefTagID);
- an order the exchange will not take (unknown symbol, unsupported OrdType or
  TimeInForce, a price off the tick grid): the request carries a ``Refusal``, and the
  gateway answers with an ExecutionReport (ExecType Rejected, OrdRejReason and Text), or
  an OrderCancelReject for a cancel or replace.

Prices and quantities stay ``Decimal`` from the wire text on: no float ever holds one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from dome.core.types import OrderType, RejectReason, Side
from dome.fix import tags as t
from dome.instrument_spec import ConversionError, InstrumentSpec, parse_decimal

#: DOME's limit on a client order id (printable ASCII), which a ClOrdID becomes.
MAX_CL_ORD_ID = 64


@dataclass(frozen=True)
class Incoming:
    """One received application message, read out of the FIX engine's object.

    ``fields`` holds the body's top-level tags, ``groups`` each repeating group's
    entries (by its NoXXX tag), ``header`` the header tags the gateway reads.
    """

    msg_type: str
    seq_num: int
    fields: Mapping[int, str]
    header: Mapping[int, str] = field(default_factory=dict)
    groups: Mapping[int, list[dict[int, str]]] = field(default_factory=dict)

    def get(self, tag: int) -> str:
        """The field's text, "" when absent."""
        return self.fields.get(tag, "")

    @property
    def poss_dup(self) -> bool:
        """Sent again by the session layer (PossDupFlag): maybe handled already."""
        return self.header.get(t.POSS_DUP_FLAG) == "Y"

    @property
    def poss_resend(self) -> bool:
        """Sent again by the application (PossResend): maybe handled already."""
        return self.header.get(t.POSS_RESEND) == "Y"


class SessionReject(Exception):
    """The message needs a session-level Reject (3): ``reason`` is a SessionRejectReason."""

    def __init__(self, tag: int, reason: int, text: str) -> None:
        super().__init__(text)
        self.tag = tag
        self.reason = reason
        self.text = text


@dataclass(frozen=True)
class Refusal:
    """Why an order, cancel or replace is refused: the FIX reason code and a sentence."""

    code: int
    text: str


@dataclass(frozen=True)
class NewOrderRequest:
    """A NewOrderSingle (D), with the DOME order it becomes or why it is refused."""

    cl_ord_id: str
    symbol: str
    side: Side | None
    #: The FIX values as sent, echoed on the ExecutionReports.
    side_code: str
    ord_type: str
    time_in_force: str
    exec_inst: str
    order_qty: Decimal
    price: Decimal | None
    dome_type: OrderType | None
    refusal: Refusal | None
    poss_dup: bool = False
    poss_resend: bool = False


@dataclass(frozen=True)
class CancelRequest:
    """An OrderCancelRequest (F)."""

    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    symbol: str
    side_code: str


@dataclass(frozen=True)
class ReplaceRequest:
    """An OrderCancelReplaceRequest (G): the order's new total OrderQty and Price."""

    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    symbol: str
    side_code: str
    ord_type: str
    time_in_force: str
    exec_inst: str
    order_qty: Decimal
    price: Decimal | None
    refusal: Refusal | None


@dataclass(frozen=True)
class MdRefusal:
    """Why a MarketDataRequest is refused: MDReqRejReason (a character) and a sentence."""

    code: str
    text: str


@dataclass(frozen=True)
class MarketDataRequest:
    """A MarketDataRequest (V), or why it is refused."""

    md_req_id: str
    subscription: str
    depth: int
    incremental: bool
    entry_types: frozenset[str]
    symbols: tuple[str, ...]
    refusal: MdRefusal | None = None


# -- FIX vocabulary to DOME -------------------------------------------------------------

_SIDES = {t.SIDE_BUY: Side.BUY, t.SIDE_SELL: Side.SELL}
_TIF_RESTING = ("", t.TIF_DAY, t.TIF_GTC)

#: DOME reject reason -> OrdRejReason (103). Text always carries DOME's own sentence.
ORD_REJ_REASONS: dict[RejectReason, int] = {
    RejectReason.UNKNOWN_SYMBOL: t.ORD_REJ_UNKNOWN_SYMBOL,
    RejectReason.INVALID_SIDE: t.ORD_REJ_UNSUPPORTED_CHARACTERISTIC,
    RejectReason.INVALID_ORDER_TYPE: t.ORD_REJ_UNSUPPORTED_CHARACTERISTIC,
    RejectReason.INVALID_STP: t.ORD_REJ_UNSUPPORTED_CHARACTERISTIC,
    RejectReason.QTY_NOT_POSITIVE: t.ORD_REJ_INCORRECT_QUANTITY,
    RejectReason.QTY_OFF_LOT: t.ORD_REJ_INCORRECT_QUANTITY,
    RejectReason.QTY_BELOW_MIN: t.ORD_REJ_INCORRECT_QUANTITY,
    RejectReason.QTY_ABOVE_MAX: t.ORD_REJ_INCORRECT_QUANTITY,
    RejectReason.INVALID_QTY: t.ORD_REJ_INCORRECT_QUANTITY,
    RejectReason.UNKNOWN_ORDER: t.ORD_REJ_UNKNOWN_ORDER,
    RejectReason.NOT_ORDER_OWNER: t.ORD_REJ_UNKNOWN_ORDER,
    RejectReason.CLIENT_ORDER_ID_REUSED: t.ORD_REJ_DUPLICATE_ORDER,
}


def ord_rej_reason(reason: RejectReason) -> int:
    """The OrdRejReason for a DOME reject reason (Other when FIX has no closer word).

    >>> ord_rej_reason(RejectReason.UNKNOWN_SYMBOL), ord_rej_reason(RejectReason.PRICE_OFF_TICK)
    (1, 99)
    """
    return ORD_REJ_REASONS.get(reason, t.ORD_REJ_OTHER)


def cxl_rej_reason(reason: RejectReason) -> int:
    """The CxlRejReason for a DOME reject of a cancel or amend."""
    if reason in (RejectReason.UNKNOWN_ORDER, RejectReason.NOT_ORDER_OWNER):
        return t.CXL_REJ_UNKNOWN_ORDER
    if reason is RejectReason.TOO_LATE_TO_CANCEL:
        return t.CXL_REJ_TOO_LATE
    return t.CXL_REJ_OTHER


def dome_order_type(
    ord_type: str, time_in_force: str, exec_inst: str
) -> tuple[OrderType | None, Refusal | None]:
    """DOME's order type for OrdType (40), TimeInForce (59) and ExecInst (18).

    >>> dome_order_type("2", "3", "")
    (<OrderType.IOC: 3>, None)
    >>> dome_order_type("2", "1", "6")
    (<OrderType.POST_ONLY: 5>, None)
    >>> dome_order_type("3", "", "")[1].text
    'OrdType 3 is not supported: 1 (market) or 2 (limit)'
    """
    instructions = set(exec_inst.split()) if exec_inst else set()
    if instructions - {t.EXEC_INST_POST_ONLY}:
        other = " ".join(sorted(instructions - {t.EXEC_INST_POST_ONLY}))
        return None, _unsupported(f"ExecInst {other} is not supported: only 6 (post-only)")
    post_only = t.EXEC_INST_POST_ONLY in instructions
    if ord_type == t.ORD_TYPE_MARKET:
        if post_only:
            return None, _unsupported("a market order cannot be post-only")
        if time_in_force in (*_TIF_RESTING, t.TIF_IOC):
            return OrderType.MARKET, None  # a market order never rests: the rest is cancelled
        return None, _unsupported(f"TimeInForce {time_in_force} is not supported for market")
    if ord_type != t.ORD_TYPE_LIMIT:
        return None, _unsupported(f"OrdType {ord_type} is not supported: 1 (market) or 2 (limit)")
    if time_in_force in _TIF_RESTING:
        return (OrderType.POST_ONLY if post_only else OrderType.LIMIT), None
    if post_only:
        return None, _unsupported("post-only (ExecInst 6) rests: TimeInForce must be 0 or 1")
    if time_in_force == t.TIF_IOC:
        return OrderType.IOC, None
    if time_in_force == t.TIF_FOK:
        return OrderType.FOK, None
    return None, _unsupported(
        f"TimeInForce {time_in_force} is not supported: 0 (day), 1 (GTC), 3 (IOC), 4 (FOK)"
    )


def _unsupported(text: str) -> Refusal:
    return Refusal(t.ORD_REJ_UNSUPPORTED_CHARACTERISTIC, text)


def _required(message: Incoming, tag: int, what: str) -> str:
    value = message.get(tag)
    if not value:
        raise SessionReject(tag, t.SESSION_REJ_REQUIRED_TAG_MISSING, f"{what} ({tag}) is required")
    return value


def _decimal(message: Incoming, tag: int, what: str) -> Decimal:
    text = message.get(tag)
    try:
        return parse_decimal(text)
    except (InvalidOperation, ValueError):
        raise SessionReject(
            tag, t.SESSION_REJ_INCORRECT_FORMAT, f"{what} ({tag}) is not a decimal: {text!r}"
        ) from None


def _cl_ord_id_refusal(cl_ord_id: str) -> Refusal | None:
    if len(cl_ord_id) > MAX_CL_ORD_ID or not (cl_ord_id.isascii() and cl_ord_id.isprintable()):
        return Refusal(t.ORD_REJ_OTHER, RejectReason.INVALID_CLIENT_ORDER_ID.message)
    return None


def _grid_refusal(
    spec: InstrumentSpec, qty: Decimal, price: Decimal | None, *, qty_code: int, price_code: int
) -> Refusal | None:
    """A refusal if ``qty`` or ``price`` is off the instrument's grid (or too large)."""
    try:
        spec.qty_to_lots(qty)
    except ConversionError as exc:
        return Refusal(qty_code, exc.reason.message)
    if price is not None:
        try:
            spec.price_to_ticks(price)
        except ConversionError as exc:
            return Refusal(price_code, exc.reason.message)
    return None


def new_order(
    message: Incoming, specs: Mapping[str, InstrumentSpec], account: str
) -> NewOrderRequest:
    """Read a NewOrderSingle; ``SessionReject`` if a needed tag is missing or malformed."""
    cl_ord_id = _required(message, t.CL_ORD_ID, "ClOrdID")
    symbol = _required(message, t.SYMBOL, "Symbol")
    _required(message, t.ORDER_QTY, "OrderQty")
    qty = _decimal(message, t.ORDER_QTY, "OrderQty")
    ord_type = message.get(t.ORD_TYPE)
    side_code = message.get(t.SIDE)
    if ord_type == t.ORD_TYPE_LIMIT:
        _required(message, t.PRICE, "Price")
    price = _decimal(message, t.PRICE, "Price") if message.get(t.PRICE) else None
    tif, exec_inst = message.get(t.TIME_IN_FORCE), message.get(t.EXEC_INST)
    side = _SIDES.get(side_code)
    dome_type, refusal = dome_order_type(ord_type, tif, exec_inst)
    refusal = refusal or _cl_ord_id_refusal(cl_ord_id)
    if refusal is None and side is None:
        refusal = _unsupported(f"Side {side_code} is not supported: 1 (buy) or 2 (sell)")
    if refusal is None and message.get(t.ACCOUNT) not in ("", account):
        refusal = Refusal(t.ORD_REJ_UNKNOWN_ACCOUNT, f"Account must be {account} on this session")
    if refusal is None and symbol not in specs:
        refusal = Refusal(t.ORD_REJ_UNKNOWN_SYMBOL, RejectReason.UNKNOWN_SYMBOL.message)
    if refusal is None and dome_type is OrderType.MARKET and price is not None:
        refusal = Refusal(t.ORD_REJ_OTHER, RejectReason.PRICE_NOT_ALLOWED.message)
    if refusal is None and qty <= 0:
        refusal = Refusal(t.ORD_REJ_INCORRECT_QUANTITY, RejectReason.QTY_NOT_POSITIVE.message)
    if refusal is None:
        refusal = _grid_refusal(
            specs[symbol],
            qty,
            price,
            qty_code=t.ORD_REJ_INCORRECT_QUANTITY,
            price_code=t.ORD_REJ_OTHER,
        )
    return NewOrderRequest(
        cl_ord_id=cl_ord_id,
        symbol=symbol,
        side=side,
        side_code=side_code,
        ord_type=ord_type,
        time_in_force=tif,
        exec_inst=exec_inst,
        order_qty=qty,
        price=price,
        dome_type=dome_type,
        refusal=refusal,
        poss_dup=message.poss_dup,
        poss_resend=message.poss_resend,
    )


def cancel(message: Incoming) -> CancelRequest:
    """Read an OrderCancelRequest."""
    return CancelRequest(
        cl_ord_id=_required(message, t.CL_ORD_ID, "ClOrdID"),
        orig_cl_ord_id=_required(message, t.ORIG_CL_ORD_ID, "OrigClOrdID"),
        order_id=message.get(t.ORDER_ID),
        symbol=_required(message, t.SYMBOL, "Symbol"),
        side_code=message.get(t.SIDE),
    )


def replace(message: Incoming, specs: Mapping[str, InstrumentSpec]) -> ReplaceRequest:
    """Read an OrderCancelReplaceRequest; the order it names is checked by the desk."""
    cl_ord_id = _required(message, t.CL_ORD_ID, "ClOrdID")
    symbol = _required(message, t.SYMBOL, "Symbol")
    _required(message, t.ORDER_QTY, "OrderQty")
    qty = _decimal(message, t.ORDER_QTY, "OrderQty")
    ord_type = message.get(t.ORD_TYPE)
    if ord_type == t.ORD_TYPE_LIMIT:
        _required(message, t.PRICE, "Price")
    price = _decimal(message, t.PRICE, "Price") if message.get(t.PRICE) else None
    refusal = _cl_ord_id_refusal(cl_ord_id)
    if refusal is None and ord_type != t.ORD_TYPE_LIMIT:
        refusal = Refusal(t.CXL_REJ_OTHER, "only a resting limit order can be replaced")
    if refusal is None and symbol not in specs:
        refusal = Refusal(t.CXL_REJ_UNKNOWN_ORDER, RejectReason.UNKNOWN_SYMBOL.message)
    if refusal is None and qty <= 0:
        refusal = Refusal(t.CXL_REJ_OTHER, RejectReason.QTY_NOT_POSITIVE.message)
    if refusal is None:
        refusal = _grid_refusal(
            specs[symbol], qty, price, qty_code=t.CXL_REJ_OTHER, price_code=t.CXL_REJ_OTHER
        )
    return ReplaceRequest(
        cl_ord_id=cl_ord_id,
        orig_cl_ord_id=_required(message, t.ORIG_CL_ORD_ID, "OrigClOrdID"),
        order_id=message.get(t.ORDER_ID),
        symbol=symbol,
        side_code=message.get(t.SIDE),
        ord_type=ord_type,
        time_in_force=message.get(t.TIME_IN_FORCE),
        exec_inst=message.get(t.EXEC_INST),
        order_qty=qty,
        price=price,
        refusal=refusal,
    )


_ENTRY_TYPES = frozenset({t.MD_BID, t.MD_OFFER, t.MD_TRADE})


def market_data(message: Incoming, specs: Mapping[str, InstrumentSpec]) -> MarketDataRequest:
    """Read a MarketDataRequest; a refusal's code is the MDReqRejReason (281) character."""
    md_req_id = _required(message, t.MD_REQ_ID, "MDReqID")
    subscription = message.get(t.SUBSCRIPTION_REQUEST_TYPE)
    depth_text = message.get(t.MARKET_DEPTH) or "0"
    update_type = message.get(t.MD_UPDATE_TYPE)
    entry_types = frozenset(
        g.get(t.MD_ENTRY_TYPE, "") for g in message.groups.get(t.NO_MD_ENTRY_TYPES, [])
    )
    symbols = tuple(g.get(t.SYMBOL, "") for g in message.groups.get(t.NO_RELATED_SYM, []))
    if not depth_text.isdigit():
        raise SessionReject(
            t.MARKET_DEPTH, t.SESSION_REJ_INCORRECT_FORMAT, "MarketDepth must be a whole number"
        )
    subscribing = subscription != t.SUBSCRIBE_DISABLE
    if subscribing and (not symbols or "" in symbols):
        raise SessionReject(t.SYMBOL, t.SESSION_REJ_REQUIRED_TAG_MISSING, "Symbol is required")
    refusal: MdRefusal | None = None
    unknown = [s for s in symbols if s not in specs]
    if subscription not in (t.SUBSCRIBE_SNAPSHOT, t.SUBSCRIBE_UPDATES, t.SUBSCRIBE_DISABLE):
        refusal = MdRefusal(t.MD_REJ_UNSUPPORTED_SUBSCRIPTION, "SubscriptionRequestType: 0, 1 or 2")
    elif update_type not in ("", t.MD_FULL_REFRESH, t.MD_INCREMENTAL):
        refusal = MdRefusal(t.MD_REJ_UNSUPPORTED_UPDATE_TYPE, "MDUpdateType must be 0 or 1")
    elif subscribing and (not entry_types or not entry_types <= _ENTRY_TYPES):
        refusal = MdRefusal(
            t.MD_REJ_UNSUPPORTED_ENTRY_TYPE, "MDEntryType must be 0 (bid), 1 (offer) or 2 (trade)"
        )
    elif subscribing and unknown:
        refusal = MdRefusal(t.MD_REJ_UNKNOWN_SYMBOL, f"unknown symbol {unknown[0]}")
    return MarketDataRequest(
        md_req_id=md_req_id,
        subscription=subscription,
        depth=int(depth_text),
        incremental=update_type != t.MD_FULL_REFRESH,
        entry_types=entry_types,
        symbols=symbols,
        refusal=refusal,
    )
