"""The small vocabulary every layer shares: sides, order types, statuses, reject reasons.

Values are stable integers because they cross the wire and land in journals; the proto
enums mirror them one to one (zero stays "unspecified" there).
"""

from __future__ import annotations

from enum import IntEnum


class Side(IntEnum):
    """Which side of the book an order rests on or takes from."""

    BUY = 1
    SELL = 2


class OrderType(IntEnum):
    """How an order meets the book.

    LIMIT rests what it cannot fill (good till cancelled); MARKET takes any price and
    cancels the rest; IOC takes up to its limit and cancels the rest; FOK fills completely
    at or better than its limit or not at all; POST_ONLY rests only if it would not take.
    """

    LIMIT = 1
    MARKET = 2
    IOC = 3
    FOK = 4
    POST_ONLY = 5


class SelfTradePrevention(IntEnum):
    """What happens when an order would trade with a resting order of the same account."""

    CANCEL_RESTING = 1
    REJECT_INCOMING = 2


class OrderStatus(IntEnum):
    """An order's state after the command that touched it."""

    NEW = 1
    PARTIALLY_FILLED = 2
    FILLED = 3
    CANCELLED = 4
    REJECTED = 5


class RejectReason(IntEnum):
    """The one list of reasons an exchange rule refuses a command.

    A reject leaves the book exactly as it was. Reasons for the decimal-to-integer
    conversion (off tick, off lot) are produced at the edge, not in the book, but live
    here so that every layer speaks of them alike.
    """

    NONE = 0
    UNKNOWN_SYMBOL = 1
    INVALID_SIDE = 2
    INVALID_ORDER_TYPE = 3
    PRICE_REQUIRED = 4
    PRICE_NOT_ALLOWED = 5
    PRICE_OFF_TICK = 6
    PRICE_OUT_OF_BAND = 7
    QTY_NOT_POSITIVE = 8
    QTY_OFF_LOT = 9
    QTY_BELOW_MIN = 10
    QTY_ABOVE_MAX = 11
    UNKNOWN_ORDER = 12
    NOT_ORDER_OWNER = 13
    POST_ONLY_WOULD_TAKE = 14
    FOK_NOT_FILLABLE = 15
    NO_LIQUIDITY = 16
    SELF_TRADE = 17
    AMEND_NO_CHANGE = 18
    INVALID_CLIENT_ORDER_ID = 19
    INVALID_PRICE = 20
    INVALID_QTY = 21
    INVALID_STP = 22
    ORDER_ID_IN_USE = 23
    TOO_LATE_TO_CANCEL = 24
    CLIENT_ORDER_ID_REUSED = 25

    @property
    def message(self) -> str:
        """A human sentence for logs, CLI output and gRPC messages."""
        return _MESSAGES[self]


_MESSAGES: dict[RejectReason, str] = {
    RejectReason.NONE: "accepted",
    RejectReason.UNKNOWN_SYMBOL: "unknown symbol",
    RejectReason.INVALID_SIDE: "side must be buy or sell",
    RejectReason.INVALID_ORDER_TYPE: "unknown order type",
    RejectReason.PRICE_REQUIRED: "this order type needs a price",
    RejectReason.PRICE_NOT_ALLOWED: "market orders take no price",
    RejectReason.PRICE_OFF_TICK: "price is not a multiple of the tick size",
    RejectReason.PRICE_OUT_OF_BAND: "price is outside the instrument's price band",
    RejectReason.QTY_NOT_POSITIVE: "quantity must be positive",
    RejectReason.QTY_OFF_LOT: "quantity is not a multiple of the lot size",
    RejectReason.QTY_BELOW_MIN: "quantity is below the instrument's minimum",
    RejectReason.QTY_ABOVE_MAX: "quantity is above the instrument's maximum",
    RejectReason.UNKNOWN_ORDER: "no open order with this id",
    RejectReason.NOT_ORDER_OWNER: "the order belongs to another account",
    RejectReason.POST_ONLY_WOULD_TAKE: "post-only order would take liquidity",
    RejectReason.FOK_NOT_FILLABLE: "fill-or-kill order cannot be filled completely",
    RejectReason.NO_LIQUIDITY: "no liquidity to trade against",
    RejectReason.SELF_TRADE: "order would trade with the same account",
    RejectReason.AMEND_NO_CHANGE: "amend changes nothing",
    RejectReason.INVALID_CLIENT_ORDER_ID: "client order id is too long or not printable",
    RejectReason.INVALID_PRICE: "price is not a decimal number",
    RejectReason.INVALID_QTY: "quantity is not a decimal number",
    RejectReason.INVALID_STP: "unknown self-trade prevention mode",
    RejectReason.ORDER_ID_IN_USE: "the order id is already on the book",
    RejectReason.TOO_LATE_TO_CANCEL: "the order is already filled or cancelled",
    RejectReason.CLIENT_ORDER_ID_REUSED: (
        "client order id already used for an order with other parameters"
    ),
}
