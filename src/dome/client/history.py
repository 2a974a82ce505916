"""One's own past on the exchange: the execution history read back, up to now.

The engines hold each symbol's recent execution reports (100,000 by default) and replay
an account's from any seq (``subscribe_executions(from_seq=...)``). A stream has no end,
so "up to now" needs a mark: a cancel of an order id no order has is refused, and its
REJECTED report, sequenced after the subscription, comes after every report before it.
There is no history RPC yet (a server-side change): what the engines no longer hold
cannot be read this way (``HistoryUnavailableError``).
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
    wanted = list(symbols)
    reports = await client.subscribe_executions(wanted, from_seq=dict.fromkeys(wanted, 0))
    marks = {symbol: await mark(client, symbol) for symbol in wanted}
    seen: list[Execution] = []
    async for report in reports:
        if report.seq >= marks.get(report.symbol, 0):
            marks.pop(report.symbol, None)  # the mark's own report, or later ones
        else:
            seen.append(report)
        if not marks:
            break
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
