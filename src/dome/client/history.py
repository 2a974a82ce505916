"""One's own past on the exchange: the execution history read back, up to now.

The engines hold each symbol's recent execution reports (100,000 by default, all
accounts together) and page out an account's own (``GetHistory``): every fill and
state change, so a closed order's final status too. ``history`` reads every page of
each symbol up to what is applied now; what the engines no longer hold cannot be read
(``HistoryUnavailableError`` when asked from a seq before it; from 0 a read starts at
the oldest held). ``mark`` is kept for readers of a stream (``BotRunner``): a cancel
of an id no order has is refused, and its REJECTED report, sequenced after the
subscription, comes after every report before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from dome.client.models import Execution
from dome.client.portfolio import FeeSchedule, Portfolio
from dome.core.types import Side

if TYPE_CHECKING:
    from dome.client.client import Client

#: An order id no order ever has: cancelling it is the mark.
MARKER_ORDER_ID = 2**63 - 1


async def mark(client: Client, symbol: str) -> int:
    """Sequence a mark on ``symbol`` now: every report up to its seq precedes its own."""
    return (await client.cancel_order(symbol, MARKER_ORDER_ID)).seq


async def history(client: Client, symbols: Iterable[str]) -> list[Execution]:
    """Every report of the account's on ``symbols`` the engines hold, oldest first."""
    seen: list[Execution] = []
    for symbol in symbols:
        from_seq = 0
        while True:
            page = await client.history_page(symbol, from_seq)
            seen += page.reports
            if not page.next_from_seq:
                break
            from_seq = page.next_from_seq
    return seen


def portfolio_of(
    reports: Iterable[Execution],
    *,
    prefix: str = "",
    fees: Mapping[str, FeeSchedule] | None = None,
) -> Portfolio:
    """The positions the fills in ``reports`` make (orders whose id starts with ``prefix``)."""
    book = Portfolio(dict(fees or {}))
    for report in reports:
        if report.fill is not None and report.client_order_id.startswith(prefix):
            book.apply(report.symbol, report.order_id, report.side or Side.BUY, report.fill)
    return book
