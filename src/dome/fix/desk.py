"""One account's side of the gateway: its SDK client, its report pump, its requests.

Everything here runs on the gateway's asyncio loop; the QuickFIX threads hand requests
over and wait (``application``). Two paths make FIX messages:

- the **pump** (``pump``) sends the ExecutionReports of the account's DOME execution
  reports, as they come, whether or not the FIX session is logged on;
- the **requests** (NewOrderSingle, cancel, replace, status, market data, here) call the
  exchange, then wait until the pump has passed the sequence number of their result,
  so that each request's ExecutionReports are out before the session's next message is
  read. Only what the stream never reports is made here (``replies``).

A request whose outcome the exchange could not tell (it stayed unreachable past the
SDK's retry deadline) is answered as refused with a Text saying so; if it did take
effect, its reports still arrive through the pump.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal

from dome.client import Client
from dome.client.errors import DomeError, OrderValueError, UnknownSymbolError
from dome.client.models import OrderResult
from dome.core.types import RejectReason
from dome.fix import tags as t
from dome.fix.orders import FixOrder, Orders, status_code
from dome.fix.pump import Outbox, ReportPump
from dome.fix.replies import Replies
from dome.fix.requests import (
    CancelRequest,
    MarketDataRequest,
    NewOrderRequest,
    ReplaceRequest,
    cxl_rej_reason,
    ord_rej_reason,
)
from dome.fix.state import GatewayState, Positions
from dome.fix.subscriptions import Subscriptions
from dome.instrument_spec import InstrumentSpec

log = logging.getLogger("dome.fix")


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
        self.orders = orders
        self._pump = ReportPump(account, client, state, outbox, positions, orders, already_sent)
        self._replies = Replies(outbox, orders)
        self._market = Subscriptions(client, outbox)
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
        await self._pump.start()

    async def close(self) -> None:
        self.end_market_data()
        await self._pump.stop()
        await self.client.close()

    @property
    def pump_failed(self) -> BaseException | None:
        """Why the report pump stopped, if it did."""
        return self._pump.failed

    # -------------------------------------------------------------- new orders

    async def new_order(self, request: NewOrderRequest) -> None:
        """Place a NewOrderSingle; its ExecutionReports are out when this returns."""
        if request.refusal is not None:
            self._replies.refuse_new(request, request.refusal.code, request.refusal.text)
            return
        order = self.orders.find(request.cl_ord_id)
        if order is not None and order.coid == request.cl_ord_id and request.poss_dup:
            pass  # a resend of one we may not have finished: the exchange dedupes it
        elif order is not None and request.poss_resend:
            self._replies.status(order)
            return
        elif self.orders.known(request.cl_ord_id):
            self._replies.refuse_new(request, t.ORD_REJ_DUPLICATE_ORDER, "duplicate ClOrdID")
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
            self._replies.refuse_new(
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
        await self._pump.settle(request.symbol, result, order)
        if not order.answered:
            # The exchange answered from an earlier life of this ClOrdID whose reports
            # this gateway never saw: say where the order stands.
            order.answered = True
            self._apply_result(order, result)
            self._replies.status(order)

    def _drop_refused(self, order: FixOrder, code: int, text: str) -> None:
        """An order DOME refused before sequencing it: reject it and free its ClOrdID."""
        order.status, order.leaves_qty = t.ORD_STATUS_REJECTED, Decimal(0)
        self._replies.rejected(order, code, text)
        self.orders.forget(order)
        self._state.save(self.orders)

    def _apply_result(self, order: FixOrder, result: OrderResult) -> None:
        order.order_id = order.order_id or result.order_id
        order.status = status_code(result.status)
        order.cum_qty = result.filled_qty
        order.notional = sum((f.qty * f.price for f in result.fills), Decimal(0))
        order.leaves_qty = result.remaining_qty
        self._state.save(self.orders)

    async def order_status(self, cl_ord_id: str, symbol: str, side_code: str) -> None:
        """Answer an OrderStatusRequest (H) with ExecType Order Status."""
        order = self.orders.find(cl_ord_id)
        if order is not None:
            self._replies.status(order)
            return
        self._replies.unknown_status(cl_ord_id, symbol, side_code)

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
        await self._pump.settle(order.symbol, result, order)
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
            self._replies.cancel_reject(order, request.cl_ord_id, t.RESPONSE_TO_REPLACE, code, why)
            return
        qty = leaves if leaves != order.leaves_qty else None
        price = request.price if request.price != order.price else None
        if qty is None and price is None:
            self._replies.cancel_reject(
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
            self._replies.cancel_reject(
                order, request.cl_ord_id, t.RESPONSE_TO_REPLACE, t.CXL_REJ_OTHER, str(exc)
            )
            return
        except DomeError as exc:
            log.warning("replace failed", extra={"account": self.account, "error": str(exc)})
            result = None
        await self._pump.settle(order.symbol, result, order)
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
        self._replies.cancel_reject(order, cl_ord_id, response_to, *reject, orig=orig_cl_ord_id)
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
        self._replies.cancel_reject(order, cl_ord_id, response_to, code, text)

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
