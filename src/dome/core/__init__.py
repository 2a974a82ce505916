"""The book core: order books as pure functions of sequenced commands.

Nothing here reads a clock, randomness or I/O (``tests/unit/test_core_purity.py`` keeps
it so): the same commands give the same events and the same ``state_hash()`` on every
replica. ``ReferenceBook`` is the readable book, ``docs/book.md`` as code: the spec the
native core (``dome_native``, chosen by ``dome.cores``) is held to, and the fallback core
where that is not built. ``Market`` adds the replicated idempotency window on top of a
book.
"""

from dome.core.book_api import Book, InvariantError, Level, RestingOrder
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
from dome.core.market import Market, MarketResult
from dome.core.outcome import Fill, Outcome, outcome
from dome.core.reference import ReferenceBook
from dome.core.types import OrderStatus, OrderType, RejectReason, SelfTradePrevention, Side

__all__ = [
    "AmendOrder",
    "Book",
    "CancelOrder",
    "CancelReason",
    "Command",
    "Event",
    "Fill",
    "Instrument",
    "InvariantError",
    "Level",
    "Market",
    "MarketResult",
    "NewOrder",
    "OrderAccepted",
    "OrderAmended",
    "OrderCancelled",
    "OrderRejected",
    "OrderRested",
    "OrderStatus",
    "OrderType",
    "Outcome",
    "ReferenceBook",
    "RejectReason",
    "RestingOrder",
    "SelfTradePrevention",
    "Side",
    "Trade",
    "outcome",
]
