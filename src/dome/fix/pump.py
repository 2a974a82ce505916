"""One account's report pump: its DOME execution reports, sent on as FIX ExecutionReports.

The pump reads the account's execution reports (the SDK's stream, which moves between
replicas on failover with no gap or repeat, and resumes after a restart from the
position kept in the state file) and sends the ExecutionReports that ``Orders.on_report``
makes of each, whether or not the FIX session is logged on at that moment (QuickFIX
stores what it cannot send, and a resend request delivers it). A request (``desk``)
waits with ``settle`` until the pump has passed the sequence number of its result, so
that the request's ExecutionReports are out before the session's next message is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from dome.client import Client
from dome.client.errors import DomeError
from dome.client.models import Execution, OrderResult
from dome.fix import tags as t
from dome.fix.orders import Fields, FixOrder, Group, Orders, exec_id, status_code
from dome.fix.state import GatewayState, Positions, SentMark

log = logging.getLogger("dome.fix")

#: How long a request waits for the pump to report its outcome before answering anyway.
SETTLE_TIMEOUT_S = 5.0


class Outbox(Protocol):
    """Where a desk's FIX messages go: its account's session (``application``)."""

    def send(self, msg_type: str, fields: Fields, groups: Sequence[Group] = ()) -> None:
        """Queue one message on the session (stored, and sent if it is logged on)."""

    def mark(self) -> SentMark:
        """The session's next outgoing MsgSeqNum now, with its store's creation time."""


class Progress:
    """How far the pump has got per symbol, and waiting for it to get somewhere."""

    def __init__(self, positions: Positions) -> None:
        self._seq = {symbol: seq for symbol, (seq, _) in positions.items()}
        self._changed = asyncio.Event()

    def advance(self, symbol: str, seq: int) -> None:
        """The pump handled a report of ``seq``: wake every waiter (several share a seq)."""
        self._seq[symbol] = max(seq, self._seq.get(symbol, 0))
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, done: Callable[[], bool], within: float) -> bool:
        """Wait, as the pump advances, until ``done()``; False if ``within`` s pass first."""
        try:
            async with asyncio.timeout(within):
                while not done():
                    await self._changed.wait()
        except TimeoutError:
            return False
        return True

    def passed(self, symbol: str, seq: int) -> bool:
        """Whether the pump has handled ``seq`` of ``symbol``."""
        return self._seq.get(symbol, 0) >= seq


class ReportPump:
    """The task that turns one account's report stream into ExecutionReports."""

    def __init__(
        self,
        account: str,
        client: Client,
        state: GatewayState,
        outbox: Outbox,
        positions: Positions,
        orders: Orders,
        already_sent: set[str],
    ) -> None:
        self.account = account
        self._client = client
        self._state = state
        self._outbox = outbox
        self._orders = orders
        self._positions = dict(positions)
        self._already_sent = already_sent
        self._progress = Progress(positions)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe to the account's reports after the last one handled, and pump them."""
        reports = await self._client.subscribe_executions(resume=self._positions or None)
        self._task = asyncio.create_task(self._pump(reports), name=f"fix-{self.account}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, DomeError):
                await self._task

    @property
    def failed(self) -> BaseException | None:
        """Why the pump stopped, if it did."""
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    async def _pump(self, reports: AsyncIterator[Execution]) -> None:
        try:
            async for report in reports:
                self._on_report(report)
        except DomeError as exc:
            log.error(
                "execution stream failed; no more reports until the next Logon",
                extra={"account": self.account, "error": str(exc)},
            )
            raise
        except Exception:
            log.exception("report pump failed", extra={"account": self.account})
            raise

    def _on_report(self, report: Execution) -> None:
        symbol = report.symbol
        position = self._positions.get(symbol)
        k = position[1] if position is not None and position[0] == report.seq else 0
        for fields in self._orders.on_report(report, exec_id(symbol, report.seq, k)):
            eid = dict(fields)[t.EXEC_ID]
            if eid in self._already_sent:
                self._already_sent.discard(eid)  # sent before a crash: applied, not resent
                continue
            self._outbox.send(t.EXECUTION_REPORT, fields)
        self._positions[symbol] = (report.seq, k + 1)
        self._state.save(self._orders, {symbol: self._positions[symbol]}, self._outbox.mark())
        self._progress.advance(symbol, report.seq)

    async def settle(self, symbol: str, result: OrderResult | None, order: FixOrder) -> None:
        """Wait until the pump has sent what ``result`` did to ``order`` (bounded).

        A command's reports for the account share its seq and end with the one about
        the order itself, which leaves it in the result's status; so the pump is done
        with the command once the order's last report is of a later seq, or of this one
        with the result's status and no change left in flight. A refused command has
        one report only. With no result (outcome unknown), give the stream a while to
        show whether a change took effect.
        """
        progress = self._progress

        def settled() -> bool:
            assert result is not None
            seq = result.seq
            if result.rejected or (result.duplicate and progress.passed(symbol, seq)):
                return progress.passed(symbol, seq)
            if order.last_seq != seq:
                return order.last_seq > seq
            return order.status == status_code(result.status) and not order.pending

        if result is None:
            await progress.until(lambda: not order.pending, SETTLE_TIMEOUT_S)
        elif result.seq and not await progress.until(settled, SETTLE_TIMEOUT_S):
            log.warning(
                "report stream behind the result",
                extra={"account": self.account, "symbol": symbol, "seq": result.seq},
            )
