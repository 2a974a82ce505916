"""A real engine process: orders place, match, cancel and amend; bulk flow; idempotency."""

from __future__ import annotations

from engine_harness import EngineProcess, Stubs, order

from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr


async def test_place_match_and_book(engine: EngineProcess, stubs: Stubs) -> None:
    sym = engine.symbol()
    rest = await stubs.submit("alice", order(sym, "sell", "10", "101.50"))
    assert rest.status == pb.ORDER_STATUS_NEW
    assert (rest.order_id, rest.seq, rest.remaining_qty) == (rest.seq, 1, "10")

    take = await stubs.submit("bob", order(sym, "buy", "4", "102"))
    assert take.status == pb.ORDER_STATUS_FILLED
    assert take.filled_qty == "4"
    assert [(f.trade_id, f.price, f.qty, f.maker) for f in take.fills] == [(1, "101.5", "4", False)]
    assert await stubs.book(sym) == ([], [("101.5", "6", 1)])


async def test_decimal_lots(engine: EngineProcess, stubs: Stubs) -> None:
    result = await stubs.submit("alice", order("BTC-USD", "buy", "0.0025", "20000.01"))
    assert result.status == pb.ORDER_STATUS_NEW
    assert result.remaining_qty == "0.0025"
    cancel = await stubs.trading.CancelOrder(
        tr.CancelOrderRequest(symbol="BTC-USD", order_id=result.order_id),
        metadata=engine.auth("alice"),
    )
    assert cancel.cancelled_qty == "0.0025"


async def test_cancel_and_amend(engine: EngineProcess, stubs: Stubs) -> None:
    sym = engine.symbol()
    placed = await stubs.submit("alice", order(sym, "buy", "10", "100", client_order_id="a1"))

    smaller = await stubs.trading.AmendOrder(
        tr.AmendOrderRequest(symbol=sym, order_id=placed.order_id, qty="7"),
        metadata=engine.auth("alice"),
    )
    assert smaller.status == pb.ORDER_STATUS_NEW
    assert smaller.remaining_qty == "7"
    assert smaller.client_order_id == "a1"

    moved = await stubs.trading.AmendOrder(
        tr.AmendOrderRequest(symbol=sym, order_id=placed.order_id, price="99.5"),
        metadata=engine.auth("alice"),
    )
    assert moved.remaining_qty == "7"
    assert await stubs.book(sym) == ([("99.5", "7", 1)], [])

    cancelled = await stubs.trading.CancelOrder(
        tr.CancelOrderRequest(symbol=sym, order_id=placed.order_id),
        metadata=engine.auth("alice"),
    )
    assert cancelled.status == pb.ORDER_STATUS_CANCELLED
    assert cancelled.cancelled_qty == "7"
    assert await stubs.book(sym) == ([], [])

    again = await stubs.trading.CancelOrder(
        tr.CancelOrderRequest(symbol=sym, order_id=placed.order_id),
        metadata=engine.auth("alice"),
    )
    assert again.status == pb.ORDER_STATUS_REJECTED
    # Cancelled already: too late, which a made-up id is not (UNKNOWN_ORDER).
    assert again.reject_reason == pb.REJECT_REASON_TOO_LATE_TO_CANCEL


async def test_foreign_order_cannot_be_cancelled_amended_or_listed(
    engine: EngineProcess, stubs: Stubs
) -> None:
    sym = engine.symbol()
    mine = await stubs.submit("alice", order(sym, "sell", "3", "105"))
    cancel = await stubs.trading.CancelOrder(
        tr.CancelOrderRequest(symbol=sym, order_id=mine.order_id), metadata=engine.auth("bob")
    )
    assert cancel.status == pb.ORDER_STATUS_REJECTED
    assert cancel.reject_reason == pb.REJECT_REASON_NOT_ORDER_OWNER
    amend = await stubs.trading.AmendOrder(
        tr.AmendOrderRequest(symbol=sym, order_id=mine.order_id, qty="1"),
        metadata=engine.auth("bob"),
    )
    assert amend.reject_reason == pb.REJECT_REASON_NOT_ORDER_OWNER

    bobs = await stubs.trading.ListOpenOrders(
        tr.ListOpenOrdersRequest(symbol=sym), metadata=engine.auth("bob")
    )
    assert list(bobs.orders) == []
    alices = await stubs.trading.ListOpenOrders(
        tr.ListOpenOrdersRequest(symbol=sym), metadata=engine.auth("alice")
    )
    assert [(o.order_id, o.price, o.remaining_qty) for o in alices.orders] == [
        (mine.order_id, "105", "3")
    ]
    assert await stubs.book(sym) == ([], [("105", "3", 1)])


async def test_duplicate_client_order_id_returns_original(
    engine: EngineProcess, stubs: Stubs
) -> None:
    sym = engine.symbol()
    first = await stubs.submit("alice", order(sym, "buy", "5", "100", client_order_id="retry-1"))
    retry = await stubs.submit("alice", order(sym, "buy", "5", "100", client_order_id="retry-1"))
    assert retry.duplicate
    assert not first.duplicate
    assert (retry.order_id, retry.seq, retry.status) == (first.order_id, first.seq, first.status)
    assert await stubs.book(sym) == ([("100", "5", 1)], [])

    # Another account may use the same id.
    other = await stubs.submit("bob", order(sym, "buy", "1", "100", client_order_id="retry-1"))
    assert not other.duplicate
    assert other.order_id != first.order_id


async def test_bulk_batches_are_answered_in_order(engine: EngineProcess, stubs: Stubs) -> None:
    sym = engine.symbol()
    call = stubs.trading.SubmitOrders(metadata=engine.auth("alice"))
    batches = [
        tr.OrderBatch(
            batch_id=b,
            actions=[
                tr.OrderAction(submit=order(sym, "buy", "1", f"{50 + b}.{i:02d}"))
                for i in range(100)
            ],
        )
        for b in range(5)
    ]
    for batch in batches:
        await call.write(batch)
    await call.done_writing()
    results = [r async for r in call]

    assert [r.batch_id for r in results] == [0, 1, 2, 3, 4]
    seqs = [res.seq for r in results for res in r.results]
    assert seqs == list(range(1, 501))
    assert all(res.status == pb.ORDER_STATUS_NEW for r in results for res in r.results)

    # A batch mixing symbols, cancels, and an edge reject keeps its order.
    call = stubs.trading.SubmitOrders(metadata=engine.auth("alice"))
    await call.write(
        tr.OrderBatch(
            batch_id=9,
            actions=[
                tr.OrderAction(cancel=tr.CancelOrderRequest(symbol=sym, order_id=1)),
                tr.OrderAction(submit=order("NOPE", "buy", "1", "1")),
                tr.OrderAction(submit=order("BTC-USD", "sell", "0.5", "90000")),
                tr.OrderAction(cancel=tr.CancelOrderRequest(symbol=sym, order_id=1)),
            ],
        )
    )
    await call.done_writing()
    (mixed,) = [r async for r in call]
    assert [r.status for r in mixed.results] == [
        pb.ORDER_STATUS_CANCELLED,
        pb.ORDER_STATUS_REJECTED,
        pb.ORDER_STATUS_NEW,
        pb.ORDER_STATUS_REJECTED,
    ]
    assert mixed.results[1].reject_reason == pb.REJECT_REASON_UNKNOWN_SYMBOL
    assert mixed.results[3].reject_reason == pb.REJECT_REASON_TOO_LATE_TO_CANCEL
    bids, _ = await stubs.book(sym)
    assert len(bids) == 20  # default depth
