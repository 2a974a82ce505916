"""DOME's Python SDK: an async client with typed results, and a framework for trading bots.

Public surface: ``Client`` and its result types, the error hierarchy, and ``Bot`` with
its actions. Everything speaks ``Decimal``; ticks and lots stay on the exchange side.
"""

from dome.client.bots import Bot, BotRunner, Cancel, MarketView, MyOrder, Place
from dome.client.client import Client
from dome.client.errors import (
    AuthError,
    DomeError,
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
from dome.client.local import NoLocalExchange, local_target
from dome.client.local_book import LocalBook
from dome.client.models import (
    AmendOrder,
    BookSnapshot,
    CancelOrder,
    ExecType,
    Execution,
    Fill,
    Level,
    NewOrder,
    OpenOrder,
    OrderResult,
    StreamStats,
    Trade,
)

__all__ = [
    "AmendOrder",
    "AuthError",
    "BookSnapshot",
    "Bot",
    "BotRunner",
    "Cancel",
    "CancelOrder",
    "Client",
    "DomeError",
    "ExecType",
    "Execution",
    "Fill",
    "InvalidRequestError",
    "Level",
    "LocalBook",
    "MarketView",
    "MyOrder",
    "NewOrder",
    "NoLocalExchange",
    "NotFoundError",
    "NotPrimaryError",
    "OpenOrder",
    "OrderResult",
    "OrderValueError",
    "PermissionDeniedError",
    "Place",
    "RateLimitedError",
    "RpcError",
    "StreamStats",
    "Trade",
    "UnavailableError",
    "UnknownSymbolError",
    "local_target",
]
