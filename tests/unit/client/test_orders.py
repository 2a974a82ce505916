"""Order lifecycles from racing answers; open quantity freed only by fills and cancels."""

from __future__ import annotations

from decimal import Decimal as D

from dome.client import (
    ExecType,
    Execution,
    Fill,
    Order,
    OrderBook,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderResult,
    OrderState,
    Portfolio,
)
from dome.core.types import OrderStatus, OrderType, RejectReason, Side


def result(
    status: OrderStatus,
    seq: int,
    *,
    order_id: int = 5,
    remaining: str = "0",
    cancelled: str = "0",
    filled: str = "0",
    reason: RejectReason | None = None,
) -> OrderResult:
    return OrderResult(
        "X", order_id, "t/r-1", status, reason, "", D(filled), D(remaining), D(cancelled),
        (), seq, False,
    )  # fmt: skip


def report(
    kind: ExecType,
    status: OrderStatus,
    seq: int,
    remaining: str,
    fill: Fill | None = None,
    cancelled: str = "0",
) -> Execution:
    return Execution(
        "X", seq, 0, 0, kind, 5, "t/r-1", Side.SELL, status, D(10), D(remaining), fill,
        D(cancelled), None,
    )  # fmt: skip


def placed() -> tuple[OrderBook, Order]:
    book = OrderBook(Portfolio())
    order = Order("t/r-1", "X", Side.SELL, D(4), D(10), OrderType.LIMIT)
    book.pending_new(order)
    assert book.exposure("X", Side.SELL) == 4  # pending orders count
    book.on_submit(order, result(OrderStatus.NEW, 1, remaining="4"))
    return book, order


def test_a_cancel_too_late_keeps_the_quantity_until_the_fill_arrives() -> None:
    book, order = placed()
    book.pending_cancel(book.orders["t/r-1"])
    # It traded at seq 2 (report not read yet); the cancel at seq 3 finds nothing.
    book.on_cancel(order, result(OrderStatus.REJECTED, 3, reason=RejectReason.UNKNOWN_ORDER))
    assert book.orders["t/r-1"].state is OrderState.PENDING_CANCEL
    assert book.exposure("X", Side.SELL) == 4, "a too-late cancel freed unfilled quantity"
    events = book.on_report(
        report(ExecType.TRADE, OrderStatus.FILLED, 2, "0", Fill(1, D(10), D(4), True))
    )
    assert [type(e) for e in events] == [OrderFilled, type(events[1])]
    assert book.orders["t/r-1"].state is OrderState.FILLED
    assert book.exposure("X", Side.SELL) == 0
    assert book.portfolio.position("X").qty == -4


def test_a_confirmed_cancel_frees_only_what_it_cancelled() -> None:
    book, order = placed()
    book.pending_cancel(book.orders["t/r-1"])
    # One lot traded at seq 2 (unread); the cancel at seq 3 took the other three.
    events = book.on_cancel(order, result(OrderStatus.CANCELLED, 3, cancelled="3"))
    assert isinstance(events[-1], OrderCancelled)
    assert book.exposure("X", Side.SELL) == 1
    book.on_report(
        report(ExecType.TRADE, OrderStatus.PARTIALLY_FILLED, 2, "3", Fill(1, D(10), D(1), True))
    )
    # The report of seq 2 is older than the cancel: it books the fill, not its status.
    assert book.orders["t/r-1"].state is OrderState.CANCELLED
    assert book.orders["t/r-1"].done
    assert book.exposure("X", Side.SELL) == 0


def test_a_reject_is_final_and_frees_everything() -> None:
    book = OrderBook(Portfolio())
    order = Order("t/r-1", "X", Side.BUY, D(4), D(10), OrderType.POST_ONLY)
    book.pending_new(order)
    events = book.on_submit(
        order, result(OrderStatus.REJECTED, 1, reason=RejectReason.POST_ONLY_WOULD_TAKE)
    )
    assert isinstance(events[-1], OrderRejected)
    assert events[-1].order.reject_reason is RejectReason.POST_ONLY_WOULD_TAKE
    assert book.exposure("X", Side.BUY) == 0


def test_an_amend_replaces_the_version() -> None:
    book, _ = placed()
    new = Order("t/r-1", "X", Side.SELL, D(4), D(11), OrderType.LIMIT, order_id=5)
    events = book.on_amend(new, result(OrderStatus.NEW, 2, remaining="2"))
    assert [e.order.state for e in events] == [OrderState.REPLACED, OrderState.NEW]
    current = book.orders["t/r-1"]
    assert (current.price, current.open_qty) == (D(11), D(2))


def test_too_late_to_cancel_is_read_as_no_longer_open() -> None:
    # The exchange's own word for the race above: the order stays counted, not rejected.
    book, order = placed()
    book.pending_cancel(book.orders["t/r-1"])
    late = result(OrderStatus.REJECTED, 3, reason=RejectReason.TOO_LATE_TO_CANCEL)
    assert book.on_cancel(order, late) == []
    assert book.orders["t/r-1"].state is OrderState.PENDING_CANCEL
    assert book.exposure("X", Side.SELL) == 4


def test_a_retried_cancel_that_was_too_late_is_marked() -> None:
    from dome.client.retry_policy import marked

    late = result(OrderStatus.REJECTED, 3, reason=RejectReason.TOO_LATE_TO_CANCEL)
    assert marked(late, True).retried
    assert not marked(late, False).retried
    other = result(OrderStatus.REJECTED, 3, reason=RejectReason.NOT_ORDER_OWNER)
    assert not marked(other, True).retried
