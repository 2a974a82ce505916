"""The FIX messages a desk makes itself, not from the report stream.

Only what the stream never reports comes from here: refusals made before the exchange
(and by its edge, with no sequence number), OrderCancelReject, order status. Each such
ExecutionReport gets an ExecID of the gateway's own, which never collides with the
stream's (``orders.exec_id``).
"""

from __future__ import annotations

import itertools
import time
from decimal import Decimal

from dome.fix import tags as t
from dome.fix.orders import Fields, FixOrder, Orders
from dome.fix.pump import Outbox
from dome.fix.requests import NewOrderRequest


class Replies:
    """One account's gateway-made ExecutionReports and OrderCancelRejects."""

    def __init__(self, outbox: Outbox, orders: Orders) -> None:
        self._outbox = outbox
        self._orders = orders
        self._ids = itertools.count(1)
        self._id_prefix = f"G{time.time_ns():x}"

    def exec_id(self) -> str:
        """A unique ExecID for a report the gateway makes itself (not from the stream)."""
        return f"{self._id_prefix}-{next(self._ids)}"

    def rejected(self, order: FixOrder, code: int, text: str) -> None:
        """An ExecutionReport rejecting ``order`` (ExecType Rejected)."""
        self._outbox.send(
            t.EXECUTION_REPORT,
            self._orders.fields(
                order, self.exec_id(), t.EXEC_TYPE_REJECTED, time.time_ns(), reject=(code, text)
            ),
        )

    def refuse_new(self, request: NewOrderRequest, code: int, text: str) -> None:
        """An ExecutionReport rejecting a NewOrderSingle that never reached the book."""
        self.rejected(FixOrder.of(request, status=t.ORD_STATUS_REJECTED), code, text)

    def status(self, order: FixOrder) -> None:
        """Where ``order`` stands (ExecType Order Status)."""
        self._outbox.send(
            t.EXECUTION_REPORT,
            self._orders.fields(order, self.exec_id(), t.EXEC_TYPE_ORDER_STATUS, time.time_ns()),
        )

    def unknown_status(self, cl_ord_id: str, symbol: str, side_code: str) -> None:
        """Order Status for a ClOrdID this account never used: rejected, unknown order."""
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
            self._orders.fields(
                unknown,
                self.exec_id(),
                t.EXEC_TYPE_ORDER_STATUS,
                time.time_ns(),
                reject=(t.ORD_REJ_UNKNOWN_ORDER, "no order with this ClOrdID"),
            ),
        )

    def cancel_reject(
        self,
        order: FixOrder | None,
        cl_ord_id: str,
        response_to: str,
        code: int,
        text: str,
        *,
        orig: str = "",
    ) -> None:
        """An OrderCancelReject of a cancel or replace of ``order`` (None: unknown)."""
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
