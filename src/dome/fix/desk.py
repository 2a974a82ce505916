"""One account's side of the gateway: its SDK client, its report pump, its requests.

Everything here runs on the gateway's asyncio loop; the QuickFIX threads hand requests
over and wait (``application``). Two paths make FIX messages:

- the **pump** reads the account's DOME execution reports (the SDK's stream, which
  moves between replicas on failover with no gap or repeat, and resumes after a restart
  from the position kept in the state file) and sends the ExecutionReports that
  ``Orders.on_report`` makes of each, whether or not the FIX session is logged on at
  that moment (QuickFIX stores what it cannot send, and a resend request delivers it);
- the **requests** (NewOrderSingle, cancel, replace, status, market data) call the
  exchange, then wait until the pump has passed the sequence number of their result,
  so that each request's ExecutionReports are out before the session's next message is
  read. Only what the stream never reports comes from here: refusals made before the
  exchange (and by its edge, with no sequence number), OrderCancelReject, order status.

A request whose outcome the exchange could not tell (it stayed unreachable past the
SDK's retry deadline) is answered as refused with a Text saying so; if it did take
effect, its reports still arrive through the pump.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from typing import Protocol

from dome.client import Client
from dome.client.errors import DomeError, OrderValueError, UnknownSymbolError
from dome.client.models import Execution, OrderResult
from dome.core.types import RejectReason
from dome.fix import tags as t
from dome.fix.orders import Fields, FixOrder, Group, Orders, exec_id, status_code
from dome.fix.requests import (
    CancelRequest,
    MarketDataRequest,
    NewOrderRequest,
    ReplaceRequest,
    cxl_rej_reason,
    ord_rej_reason,
)
from dome.fix.state import GatewayState, Positions, SentMark
from dome.fix.subscriptions import Subscriptions
from dome.instrument_spec import InstrumentSpec

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


class Desk:
    """The gateway's worker for one account (whole once ``start`` has returned)."""

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
        self.client = client
        self._state = state
        self._outbox = outbox
        self.orders = orders
        self._positions = dict(positions)
        self._already_sent = already_sent
        self._progress = Progress(positions)
        self._pump_task: asyncio.Task[None] | None = None
        self._market = Subscriptions(client, outbox)
        self._ids = itertools.count(1)
        self._id_prefix = f"G{time.time_ns():x}"
        #: The exchange's instruments, by symbol (read by QuickFIX threads: never mutated).
        self.specs: dict[str, InstrumentSpec] = {}

    @classmethod
    async def open(
        cls,
        account: str,
        client: Client,
        state: GatewayState,
        outbox: Outbox,
        already_sent: set[str],
    ) -> Desk:
        """Connect, read back the account's state, and start its report pump.

        ``already_sent``: ExecIDs the session's store holds past the state's sent mark
        (``state.SentMark``): sent before a crash, so applied again but not resent.
        """
        saved = state.load(account)
        desk = cls(account, client, state, outbox, saved.positions, saved.orders, already_sent)
        await client.connect()
        desk.specs = dict(await client.instruments())
        await desk.start_pump()
        if already_sent:
            log.info(
                "resuming after reports already sent",
                extra={"account": account, "already_sent": len(already_sent)},
            )
        return desk

    async def start_pump(self) -> None:
        """Subscribe to the account's reports after the last one handled, and pump them."""
        reports = await self.client.subscribe_executions(resume=self._positions or None)
        self._pump_task = asyncio.create_task(self._pump(reports), name=f"fix-{self.account}")

    async def close(self) -> None:
        self.end_market_data()
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, DomeError):
                await self._pump_task
        await self.client.close()

    @property
    def pump_failed(self) -> BaseException | None:
        """Why the report pump stopped, if it did."""
        task = self._pump_task
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    # ------------------------------------------------------------------ the pump

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
        for fields in self.orders.on_report(report, exec_id(symbol, report.seq, k)):
            eid = dict(fields)[t.EXEC_ID]
            if eid in self._already_sent:
                self._already_sent.discard(eid)  # sent before a crash: applied, not resent
                continue
            self._outbox.send(t.EXECUTION_REPORT, fields)
        self._positions[symbol] = (report.seq, k + 1)
        self._state.save(self.orders, {symbol: self._positions[symbol]}, self._outbox.mark())
        self._progress.advance(symbol, report.seq)

    async def _settle(self, symbol: str, result: OrderResult | None, order: FixOrder) -> None:
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

    # -------------------------------------------------------------- new orders

    async def new_order(self, request: NewOrderRequest) -> None:
        """Place a NewOrderSingle; its ExecutionReports are out when this returns."""
        if request.refusal is not None:
            self._refuse_new(request, request.refusal.code, request.refusal.text)
            return
        order = self.orders.find(request.cl_ord_id)
        if order is not None and order.coid == request.cl_ord_id and request.poss_dup:
            pass  # a resend of one we may not have finished: the exchange dedupes it
        elif order is not None and request.poss_resend:
            self._send_status(order)
            return
        elif self.orders.known(request.cl_ord_id):
            self._refuse_new(request, t.ORD_REJ_DUPLICATE_ORDER, "duplicate ClOrdID")
            return
        else:
            order = self.orders.register(request)
            self._state.save(self.orders)
        assert request.side is not None
        assert request.dome_type is not None
        try:
            result = await self.client.submit_order(
                request.symbol,
                request.side,
                request.order_qty,
                request.price,
                request.dome_type,
                client_order_id=order.coid,
            )
        except (OrderValueError, UnknownSymbolError) as exc:
            reason = getattr(exc, "reason", RejectReason.UNKNOWN_SYMBOL)
            self._drop_refused(order, ord_rej_reason(reason), reason.message)
            return
        except DomeError as exc:
            order.answered = True
            order.status = t.ORD_STATUS_REJECTED
            self._state.save(self.orders)
            self._refuse_new(
                request,
                t.ORD_REJ_EXCHANGE_CLOSED,
                f"exchange unavailable ({exc}); if it took the order, reports follow",
            )
            return
        if result.rejected and not result.seq:
            reason = result.reject_reason or RejectReason.NONE
            self._drop_refused(
                order, ord_rej_reason(reason), result.reject_message or reason.message
            )
            return
        await self._settle(request.symbol, result, order)
        if not order.answered:
            # The exchange answered from an earlier life of this ClOrdID whose reports
            # this gateway never saw: say where the order stands.
            order.answered = True
            self._apply_result(order, result)
            self._send_status(order)

    def _drop_refused(self, order: FixOrder, code: int, text: str) -> None:
        """An order DOME refused before sequencing it: reject it and free its ClOrdID."""
        order.status, order.leaves_qty = t.ORD_STATUS_REJECTED, Decimal(0)
        self._outbox.send(
            t.EXECUTION_REPORT,
            self.orders.fields(
                order,
                self._gateway_exec_id(),
                t.EXEC_TYPE_REJECTED,
                time.time_ns(),
                reject=(code, text),
            ),
        )
        self.orders.forget(order)
        self._state.save(self.orders)

    def _refuse_new(self, request: NewOrderRequest, code: int, text: str) -> None:
        """An ExecutionReport rejecting a NewOrderSingle that never reached the book."""
        order = FixOrder.of(request, status=t.ORD_STATUS_REJECTED)
        self._outbox.send(
            t.EXECUTION_REPORT,
            self.orders.fields(
                order,
                self._gateway_exec_id(),
                t.EXEC_TYPE_REJECTED,
                time.time_ns(),
                reject=(code, text),
            ),
        )

    def _apply_result(self, order: FixOrder, result: OrderResult) -> None:
        order.order_id = order.order_id or result.order_id
        order.status = status_code(result.status)
        order.cum_qty = result.filled_qty
        order.notional = sum((f.qty * f.price for f in result.fills), Decimal(0))
        order.leaves_qty = result.remaining_qty
        self._state.save(self.orders)

    def _send_status(self, order: FixOrder) -> None:
        self._outbox.send(
            t.EXECUTION_REPORT,
            self.orders.fields(
                order, self._gateway_exec_id(), t.EXEC_TYPE_ORDER_STATUS, time.time_ns()
            ),
        )

    async def order_status(self, cl_ord_id: str, symbol: str, side_code: str) -> None:
        """Answer an OrderStatusRequest (H) with ExecType Order Status."""
        order = self.orders.find(cl_ord_id)
        if order is not None:
            self._send_status(order)
            return
        unknown = FixOrder(
            cl_ord_id,
            cl_ord_id,
            symbol,
            side_code,
            t.ORD_TYPE_LIMIT,
            "",
            "",
            Decimal(0),
            None,
            status=t.ORD_STATUS_REJECTED,
        )
        self._outbox.send(
            t.EXECUTION_REPORT,
            self.orders.fields(
                unknown,
                self._gateway_exec_id(),
                t.EXEC_TYPE_ORDER_STATUS,
                time.time_ns(),
                reject=(t.ORD_REJ_UNKNOWN_ORDER, "no order with this ClOrdID"),
            ),
        )

    def _gateway_exec_id(self) -> str:
        """A unique ExecID for a report the gateway makes itself (not from the stream)."""
        return f"{self._id_prefix}-{next(self._ids)}"

    # --------------------------------------------------------- cancel, replace

    async def cancel(self, request: CancelRequest) -> None:
        """An OrderCancelRequest: ExecType Canceled through the pump, or OrderCancelReject."""
        order = self._changeable(
            request.orig_cl_ord_id, request.cl_ord_id, request.symbol, t.RESPONSE_TO_CANCEL
        )
        if order is None:
            return
        self.orders.begin_change(order, "cancel", request.cl_ord_id)
        self._state.save(self.orders)
        result: OrderResult | None
        try:
            result = await self.client.cancel_order(order.symbol, order.order_id)
        except DomeError as exc:
            log.warning("cancel failed", extra={"account": self.account, "error": str(exc)})
            result = None
        await self._settle(order.symbol, result, order)
        self._refuse_unsettled(order, request.cl_ord_id, t.RESPONSE_TO_CANCEL, result)

    async def replace(self, request: ReplaceRequest) -> None:
        """An OrderCancelReplaceRequest: ExecType Replaced through the pump, or a reject."""
        order = self._changeable(
            request.orig_cl_ord_id, request.cl_ord_id, request.symbol, t.RESPONSE_TO_REPLACE
        )
        if order is None:
            return
        refusal = request.refusal
        why = refusal.text if refusal is not None else ""
        code = refusal.code if refusal is not None else t.CXL_REJ_OTHER
        leaves = request.order_qty - order.cum_qty
        if not why and order.ord_type != t.ORD_TYPE_LIMIT:
            why = "only a resting limit order can be replaced"
        elif not why and request.side_code != order.side_code:
            why = "Side cannot change"
        elif not why and request.time_in_force not in ("", order.time_in_force):
            why = "TimeInForce cannot change"
        elif not why and request.exec_inst != order.exec_inst:
            why = "ExecInst cannot change"
        elif not why and leaves <= 0:
            why = "OrderQty must be above CumQty"
        if why:
            self._cancel_reject(order, request.cl_ord_id, t.RESPONSE_TO_REPLACE, code, why)
            return
        qty = leaves if leaves != order.leaves_qty else None
        price = request.price if request.price != order.price else None
        if qty is None and price is None:
            self._cancel_reject(
                order,
                request.cl_ord_id,
                t.RESPONSE_TO_REPLACE,
                t.CXL_REJ_OTHER,
                RejectReason.AMEND_NO_CHANGE.message,
            )
            return
        self.orders.begin_change(order, "replace", request.cl_ord_id, request.order_qty)
        self._state.save(self.orders)
        result: OrderResult | None
        try:
            result = await self.client.amend_order(
                order.symbol, order.order_id, qty=qty, price=price
            )
        except (OrderValueError, UnknownSymbolError) as exc:
            self.orders.end_change(order)
            self._state.save(self.orders)
            self._cancel_reject(
                order, request.cl_ord_id, t.RESPONSE_TO_REPLACE, t.CXL_REJ_OTHER, str(exc)
            )
            return
        except DomeError as exc:
            log.warning("replace failed", extra={"account": self.account, "error": str(exc)})
            result = None
        await self._settle(order.symbol, result, order)
        self._refuse_unsettled(order, request.cl_ord_id, t.RESPONSE_TO_REPLACE, result)

    def _changeable(
        self, orig_cl_ord_id: str, cl_ord_id: str, symbol: str, response_to: str
    ) -> FixOrder | None:
        """The order a cancel or replace names, or None after rejecting the request."""
        order = self.orders.find(orig_cl_ord_id)
        reject = None
        if order is None or order.symbol != symbol:
            reject = (t.CXL_REJ_UNKNOWN_ORDER, "no order with this OrigClOrdID")
        elif self.orders.known(cl_ord_id):
            reject = (t.CXL_REJ_DUPLICATE_CL_ORD_ID, "duplicate ClOrdID")
        elif order.done:
            reject = (t.CXL_REJ_TOO_LATE, "the order is already done")
        elif order.pending or not order.order_id:
            reject = (t.CXL_REJ_PENDING, "the order has a request in flight")
        if reject is None:
            return order
        self._cancel_reject(order, cl_ord_id, response_to, *reject, orig=orig_cl_ord_id)
        return None

    def _refuse_unsettled(
        self, order: FixOrder, cl_ord_id: str, response_to: str, result: OrderResult | None
    ) -> None:
        """Reject the cancel or replace if the pump has not seen it take effect."""
        if order.pending_cl_ord_id != cl_ord_id:
            return  # the pump reported it done (Canceled or Replaced)
        self.orders.end_change(order)
        self._state.save(self.orders)
        if order.done:
            code, text = t.CXL_REJ_TOO_LATE, "the order is already done"
        elif result is None:
            code, text = t.CXL_REJ_OTHER, "exchange unavailable; the order is unchanged"
        else:
            reason = result.reject_reason or RejectReason.NONE
            code, text = cxl_rej_reason(reason), result.reject_message or reason.message
        self._cancel_reject(order, cl_ord_id, response_to, code, text)

    def _cancel_reject(
        self,
        order: FixOrder | None,
        cl_ord_id: str,
        response_to: str,
        code: int,
        text: str,
        *,
        orig: str = "",
    ) -> None:
        fields: Fields = [
            (t.ORDER_ID, str(order.order_id) if order and order.order_id else "NONE"),
            (t.CL_ORD_ID, cl_ord_id),
            (t.ORIG_CL_ORD_ID, order.cl_ord_id if order else orig),
            (t.ORD_STATUS, order.status if order else t.ORD_STATUS_REJECTED),
            (t.CXL_REJ_RESPONSE_TO, response_to),
            (t.CXL_REJ_REASON, str(code)),
            (t.TEXT, text),
        ]
        self._outbox.send(t.ORDER_CANCEL_REJECT, fields)

    # ------------------------------------------------------------- market data

    async def market_data(self, request: MarketDataRequest) -> None:
        """Answer a MarketDataRequest (``subscriptions.Subscriptions``)."""
        await self._market.handle(request)

    def end_market_data(self) -> None:
        """Stop every market data subscription (the session logged out)."""
        self._market.stop_all()


class Desks:
    """Every account's desk, opened at the first Logon (or at start-up, to resume)."""

    def __init__(
        self,
        state: GatewayState,
        make_client: Callable[[str], Client],
        make_outbox: Callable[[str], Outbox],
        already_sent: dict[str, set[str]],
    ) -> None:
        self._state = state
        self._make_client = make_client
        self._make_outbox = make_outbox
        self._already_sent = already_sent
        self._desks: dict[str, Desk] = {}
        self._lock = asyncio.Lock()

    def get(self, account: str) -> Desk | None:
        """The account's desk if open (safe from any thread: a dict read)."""
        return self._desks.get(account)

    async def open(self, account: str) -> Desk:
        """The account's desk, opening it (or restarting a failed report pump) if needed."""
        async with self._lock:
            desk = self._desks.get(account)
            if desk is None:
                desk = await Desk.open(
                    account,
                    self._make_client(account),
                    self._state,
                    self._make_outbox(account),
                    self._already_sent.pop(account, set()),
                )
                self._desks[account] = desk
            elif desk.pump_failed is not None:
                await desk.start_pump()
            return desk

    async def close(self) -> None:
        for desk in self._desks.values():
            await desk.close()
        self._desks.clear()
