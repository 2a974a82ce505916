"""An instrument as the book sees it: integer ticks and lots, and the bounds on them.

Decimal tick and lot sizes live at the edge (``dome.instrument_spec``); by the time a command
reaches the book its price is a count of ticks and its quantity a count of lots.
"""

from __future__ import annotations

from typing import NamedTuple

#: Largest price or quantity the book accepts: keeps arithmetic in 63-bit range everywhere.
MAX_UNITS = 2**62


class Instrument(NamedTuple):
    """Trading rules of one symbol, in ticks and lots.

    >>> Instrument("XYZ", min_qty=1, max_qty=1_000).max_qty
    1000
    """

    symbol: str
    #: Smallest order quantity, in lots.
    min_qty: int = 1
    #: Largest order quantity, in lots.
    max_qty: int = MAX_UNITS
    #: Lowest acceptable limit price, in ticks (inclusive).
    min_price: int = 1
    #: Highest acceptable limit price, in ticks (inclusive).
    max_price: int = MAX_UNITS
