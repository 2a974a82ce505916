"""Which book implementation the engine runs: the fast one when it is there.

The fast ``OrderBook`` and the readable ``ReferenceBook`` pass the same contract suite,
so the engine can take either; the fallback keeps the engine usable while the fast book
is being written or if it is ever removed.
"""

from __future__ import annotations

from collections.abc import Callable

from dome.core.book_api import Book
from dome.core.instrument import Instrument
from dome.core.reference import ReferenceBook

BookFactory = Callable[[Instrument], Book]


def default_book_factory() -> BookFactory:
    """``OrderBook`` if importable, else ``ReferenceBook``."""
    try:
        from dome.core.book import OrderBook
    except ImportError:
        return ReferenceBook
    return OrderBook
