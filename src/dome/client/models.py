"""Typed results of the SDK: frozen dataclasses with ``Decimal`` prices and quantities.

The wire carries decimal strings and integer enums; callers should never see either.
Decoding lives here, next to the types, so every call returns the same shapes. Enums are
the core's (``dome.core.types``), whose values the proto enums mirror one to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from dome.core.types import OrderStatus, OrderType, RejectReason, SelfTradePrevention, Side
from dome.instrument_spec import InstrumentSpec
from dome.v1 import common_pb2, market_data_pb2, trading_pb2


def dec(text: str) -> Decimal:
    """A wire decimal string as ``Decimal``; the empty string (unset) is zero."""
    return Decimal(text) if text else Decimal(0)


def enum_name(value: IntEnum | None) -> str | None:
    """Lowercase name for JSON and tables (``Side.BUY -> "buy"``)."""
    return None if value is None else value.name.lower()


def _status(raw: int) -> OrderStatus | None:
    return OrderStatus(raw) if raw else None


def _side(raw: int) -> Side | None:
    return Side(raw) if raw else None


@dataclass(frozen=True)
class Fill:
    """One trade seen from one of its orders."""

    trade_id: int
    price: Decimal
    qty: Decimal
    maker: bool

    @classmethod
    def from_proto(cls, msg: common_pb2.Fill) -> Fill:
        return cls(msg.trade_id, dec(msg.price), dec(msg.qty), msg.maker)


@dataclass(frozen=True)
class OrderResult:
    """What a submit, cancel or amend did to one order."""

    symbol: str
    order_id: int
    client_order_id: str
    status: OrderStatus | None
    reject_reason: RejectReason | None
    reject_message: str
    filled_qty: Decimal
    remaining_qty: Decimal
    cancelled_qty: Decimal
    fills: tuple[Fill, ...]
    seq: int
    duplicate: bool
    #: In a cluster: an earlier attempt of this cancel failed after it may have been
    #: applied, so a REJECTED TOO_LATE_TO_CANCEL or UNKNOWN_ORDER here means "no longer
    #: open" (see ``Client``).
    retried: bool = False

    @property
    def rejected(self) -> bool:
        """True when an exchange rule refused the command."""
        return self.status is OrderStatus.REJECTED

    @property
    def is_open(self) -> bool:
        """True when the order rests on the book after this command."""
        return self.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)

    @classmethod
    def from_proto(cls, msg: trading_pb2.OrderResult) -> OrderResult:
        status = _status(msg.status)
        reason = RejectReason(msg.reject_reason) if msg.reject_reason else None
        return cls(
            symbol=msg.symbol,
            order_id=msg.order_id,
            client_order_id=msg.client_order_id,
            status=status,
            # A reason only means something on a reject; cancels carry theirs elsewhere.
            reject_reason=reason if status is OrderStatus.REJECTED else None,
            reject_message=msg.reject_message,
            filled_qty=dec(msg.filled_qty),
            remaining_qty=dec(msg.remaining_qty),
            cancelled_qty=dec(msg.cancelled_qty),
            fills=tuple(Fill.from_proto(f) for f in msg.fills),
            seq=msg.seq,
            duplicate=msg.duplicate,
        )


@dataclass(frozen=True)
class OpenOrder:
    """One of the caller's resting orders."""

    order_id: int
    client_order_id: str
    side: Side | None
    price: Decimal
    qty: Decimal
    remaining_qty: Decimal
    status: OrderStatus | None
    type: OrderType | None
    #: The symbol it rests on (``Client.open_orders`` fills it in; the wire has it per list).
    symbol: str = ""

    @classmethod
    def from_proto(cls, msg: trading_pb2.OpenOrder, symbol: str = "") -> OpenOrder:
        return cls(
            symbol=symbol,
            order_id=msg.order_id,
            client_order_id=msg.client_order_id,
            side=_side(msg.side),
            price=dec(msg.price),
            qty=dec(msg.qty),
            remaining_qty=dec(msg.remaining_qty),
            status=_status(msg.status),
            type=OrderType(msg.type) if msg.type else None,
        )


@dataclass(frozen=True)
class Level:
    """One price level: total open quantity and how many orders make it up."""

    price: Decimal
    qty: Decimal
    order_count: int

    @classmethod
    def from_proto(cls, msg: common_pb2.PriceLevel) -> Level:
        return cls(dec(msg.price), dec(msg.qty), msg.order_count)


@dataclass(frozen=True)
class BookSnapshot:
    """A consistent book at one sequence number; each side best first."""

    symbol: str
    seq: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    @classmethod
    def from_proto(cls, msg: market_data_pb2.BookSnapshot) -> BookSnapshot:
        return cls(
            msg.symbol,
            msg.seq,
            tuple(Level.from_proto(lv) for lv in msg.bids),
            tuple(Level.from_proto(lv) for lv in msg.asks),
        )


@dataclass(frozen=True)
class Trade:
    """A public trade."""

    symbol: str
    seq: int
    trade_id: int
    price: Decimal
    qty: Decimal
    aggressor: Side | None
    timestamp_ns: int

    @classmethod
    def from_proto(cls, msg: market_data_pb2.TradeEvent) -> Trade:
        return cls(
            msg.symbol,
            msg.seq,
            msg.trade_id,
            dec(msg.price),
            dec(msg.qty),
            _side(msg.aggressor),
            msg.timestamp_ns,
        )


class ExecType(IntEnum):
    """Kind of execution report; mirrors ``dome.v1.ExecType``."""

    NEW = 1
    TRADE = 2
    CANCELLED = 3
    AMENDED = 4
    REJECTED = 5


@dataclass(frozen=True)
class Execution:
    """Something happened to one of the account's orders (pushed by StreamExecutions)."""

    symbol: str
    seq: int
    prev_seq: int
    timestamp_ns: int
    exec_type: ExecType | None
    order_id: int
    client_order_id: str
    side: Side | None
    status: OrderStatus | None
    price: Decimal
    remaining_qty: Decimal
    fill: Fill | None
    cancelled_qty: Decimal
    reject_reason: RejectReason | None

    @classmethod
    def from_proto(cls, msg: trading_pb2.ExecutionReport) -> Execution:
        return cls(
            symbol=msg.symbol,
            seq=msg.seq,
            prev_seq=msg.prev_seq,
            timestamp_ns=msg.timestamp_ns,
            exec_type=ExecType(msg.exec_type) if msg.exec_type else None,
            order_id=msg.order_id,
            client_order_id=msg.client_order_id,
            side=_side(msg.side),
            status=_status(msg.status),
            price=dec(msg.price),
            remaining_qty=dec(msg.remaining_qty),
            fill=Fill.from_proto(msg.fill) if msg.HasField("fill") else None,
            cancelled_qty=dec(msg.cancelled_qty),
            reject_reason=RejectReason(msg.reject_reason) if msg.reject_reason else None,
        )


@dataclass(frozen=True)
class NewOrder:
    """A submit for bulk flow (``Client.submit_orders``); same meaning as ``submit_order``."""

    symbol: str
    side: Side | str
    qty: Decimal | str
    price: Decimal | str | None = None
    type: OrderType | str = OrderType.LIMIT
    client_order_id: str | None = None
    stp: SelfTradePrevention | None = None


@dataclass(frozen=True)
class Limits:
    """What the engine allows (``Client.limits``; docs/limits.md). Past any of them a call
    fails with ``RateLimitedError``, its details naming the limit."""

    #: Commands per second per account (a token bucket), and how many at once.
    commands_per_second: float
    command_burst: float
    #: Open streams per account: SubmitOrders, StreamExecutions and sessions together.
    max_streams_per_account: int
    #: Largest request message, bytes.
    max_message_bytes: int
    #: Unary calls in progress on one engine, all accounts together.
    max_calls: int
    #: Commands one account may have queued per symbol.
    max_pending_per_account: int

    @classmethod
    def from_proto(cls, msg: market_data_pb2.Limits) -> Limits:
        return cls(
            commands_per_second=msg.commands_per_second,
            command_burst=msg.command_burst,
            max_streams_per_account=msg.max_streams_per_account,
            max_message_bytes=msg.max_message_bytes,
            max_calls=msg.max_calls,
            max_pending_per_account=msg.max_pending_per_account,
        )


@dataclass(frozen=True)
class HistoryPage:
    """One page of the account's own reports on a symbol (``Client.history_page``)."""

    symbol: str
    #: Oldest first.
    reports: list[Execution]
    #: Ask from this seq for the next page; 0 once the page reaches what is applied now.
    next_from_seq: int
    #: The oldest seq from which the engine still holds every report.
    first_held_seq: int

    @classmethod
    def from_proto(cls, msg: trading_pb2.GetHistoryResponse) -> HistoryPage:
        return cls(
            symbol=msg.symbol,
            reports=[Execution.from_proto(r) for r in msg.reports],
            next_from_seq=msg.next_from_seq,
            first_held_seq=msg.first_held_seq,
        )


@dataclass(frozen=True)
class CancelOrder:
    """A cancel for bulk flow: by exchange order id, or (order id 0) by client order id."""

    symbol: str
    order_id: int = 0
    client_order_id: str = ""


@dataclass(frozen=True)
class AmendOrder:
    """An amend for bulk flow; ``None`` keeps the current value."""

    symbol: str
    order_id: int
    qty: Decimal | str | None = None
    price: Decimal | str | None = None


Action = NewOrder | CancelOrder | AmendOrder


@dataclass
class StreamStats:
    """What a pushed stream has seen: messages, detected gaps, resyncs."""

    messages: int = 0
    gaps: int = 0
    resyncs: int = 0


def spec_from_proto(inst: common_pb2.Instrument) -> InstrumentSpec:
    """An instrument's rules from ``ListInstruments`` (unset bounds stay unset)."""
    names = ("symbol", "tick_size", "lot_size", "min_qty", "max_qty", "min_price", "max_price")
    return InstrumentSpec.from_dict({n: getattr(inst, n) for n in names if getattr(inst, n)})
