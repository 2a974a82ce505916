"""DOME's Python SDK: an async client with typed results, and a framework for trading bots.

One namespace holds every type a bot author needs: ``Client`` and its result types, the
error hierarchy, ``Bot`` with its actions and callbacks' events, the ``BotRunner``, the
order lifecycle, the portfolio, and the core enums (``Side``, ``OrderType``, ...).
Everything speaks ``Decimal``; ticks and lots stay on the exchange side.

Start with ``Client.local(token)`` against ``dome up`` (it goes through discovery, so
it rides failovers), ``Bot`` and ``BotRunner``; ``dome.client.errors`` states which
failures raise and which come back as rejects.
"""

from dome.client.bots import STOP_GRACE_S, Bot, BotAction, BotStats, Cancel, Place, Replace
from dome.client.client import Client
from dome.client.errors import (
    AuthError,
    CallCancelledError,
    DomeError,
    HistoryUnavailableError,
    InvalidRequestError,
    NotFoundError,
    NotPrimaryError,
    OrderValueError,
    PermissionDeniedError,
    RateLimitedError,
    RpcError,
    UnavailableError,
    UnknownSymbolError,
)
from dome.client.local import NoLocalExchange, local_discovery, local_target
from dome.client.local_book import LocalBook
from dome.client.market_view import MarketView, MyOrder
from dome.client.models import (
    AmendOrder,
    BookSnapshot,
    CancelOrder,
    ExecType,
    Execution,
    Fill,
    HistoryPage,
    Level,
    Limits,
    NewOrder,
    OpenOrder,
    OrderResult,
    StreamStats,
    Trade,
)
from dome.client.orders import (
    Order,
    OrderBook,
    OrderCancelled,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    OrderState,
    OrderUpdated,
)
from dome.client.portfolio import (
    BookRecord,
    ExchangePositions,
    FeeSchedule,
    Portfolio,
    Position,
)
from dome.client.retry_policy import MAX_IN_FLIGHT
from dome.client.runner import BotRunner
from dome.core.types import OrderStatus, OrderType, RejectReason, SelfTradePrevention, Side
from dome.instrument_spec import InstrumentSpec

__all__ = [
    "MAX_IN_FLIGHT",
    "STOP_GRACE_S",
    "AmendOrder",
    "AuthError",
    "BookRecord",
    "BookSnapshot",
    "Bot",
    "BotAction",
    "BotRunner",
    "BotStats",
    "CallCancelledError",
    "Cancel",
    "CancelOrder",
    "Client",
    "DomeError",
    "ExchangePositions",
    "ExecType",
    "Execution",
    "FeeSchedule",
    "Fill",
    "HistoryPage",
    "HistoryUnavailableError",
    "InstrumentSpec",
    "InvalidRequestError",
    "Level",
    "Limits",
    "LocalBook",
    "MarketView",
    "MyOrder",
    "NewOrder",
    "NoLocalExchange",
    "NotFoundError",
    "NotPrimaryError",
    "OpenOrder",
    "Order",
    "OrderBook",
    "OrderCancelled",
    "OrderEvent",
    "OrderFilled",
    "OrderRejected",
    "OrderResult",
    "OrderState",
    "OrderStatus",
    "OrderType",
    "OrderUpdated",
    "OrderValueError",
    "PermissionDeniedError",
    "Place",
    "Portfolio",
    "Position",
    "RateLimitedError",
    "RejectReason",
    "Replace",
    "RpcError",
    "SelfTradePrevention",
    "Side",
    "StreamStats",
    "Trade",
    "UnavailableError",
    "UnknownSymbolError",
    "local_discovery",
    "local_target",
]
