"""A real engine's streams: execution reports, book snapshot plus updates, trades."""

from __future__ import annotations

import asyncio
from typing import Any

from engine_harness import EngineProcess, Stubs, order

from dome.v1 import common_pb2 as pb
from dome.v1 import market_data_pb2 as md
from dome.v1 import trading_pb2 as tr

TIMEOUT = 10.0


async def read(call: Any) -> Any:
    """The next message of a stream, or fail after ``TIMEOUT``."""
    return await asyncio.wait_for(call.read(), TIMEOUT)


async def test_execution_reports_reach_maker_and_taker(engine: EngineProcess, stubs: Stubs) -> None:
    sym = engine.symbol()
    alice = stubs.trading.StreamExecutions(
        tr.StreamExecutionsRequest(symbols=[sym]), metadata=engine.auth("alice")
    )
    bob = stubs.trading.StreamExecutions(tr.StreamExecutionsRequest(), metadata=engine.auth("bob"))
    # Headers arrive once the subscription is live.
    await asyncio.wait_for(alice.initial_metadata(), TIMEOUT)
    await asyncio.wait_for(bob.initial_metadata(), TIMEOUT)

    rest = await stubs.submit("alice", order(sym, "sell", "5", "100", client_order_id="m1"))
    take = await stubs.submit("bob", order(sym, "buy", "3", "100", client_order_id="t1"))
    await stubs.trading.CancelOrder(
        tr.CancelOrderRequest(symbol=sym, order_id=rest.order_id), metadata=engine.auth("alice")
    )
    await stubs.trading.CancelOrder(
        tr.CancelOrderRequest(symbol=sym, order_id=rest.order_id), metadata=engine.auth("alice")
    )

    a = [await read(alice) for _ in range(4)]
    assert [(r.exec_type, r.status, r.remaining_qty) for r in a] == [
        (tr.EXEC_TYPE_NEW, pb.ORDER_STATUS_NEW, "5"),
        (tr.EXEC_TYPE_TRADE, pb.ORDER_STATUS_PARTIALLY_FILLED, "2"),
        (tr.EXEC_TYPE_CANCELLED, pb.ORDER_STATUS_CANCELLED, "0"),
        (tr.EXEC_TYPE_REJECTED, pb.ORDER_STATUS_REJECTED, "0"),
    ]
    assert all(r.client_order_id == "m1" for r in a[:3])
    assert a[1].fill.maker
    assert a[1].fill.qty == "3"
    assert a[1].fill.price == "100"
    assert a[2].cancelled_qty == "2"
    assert a[3].reject_reason == pb.REJECT_REASON_TOO_LATE_TO_CANCEL
    assert [r.prev_seq for r in a] == [0] + [r.seq for r in a[:-1]]
    assert all(r.timestamp_ns > 0 for r in a)

    b = await read(bob)
    assert (b.exec_type, b.status, b.order_id, b.client_order_id) == (
        tr.EXEC_TYPE_TRADE,
        pb.ORDER_STATUS_FILLED,
        take.order_id,
        "t1",
    )
    assert not b.fill.maker
    assert (b.prev_seq, b.side) == (0, pb.SIDE_BUY)
    alice.cancel()
    bob.cancel()


async def test_book_stream_is_snapshot_then_consistent_updates(
    engine: EngineProcess, stubs: Stubs
) -> None:
    sym = engine.symbol()
    await stubs.submit("alice", order(sym, "sell", "5", "101"))
    await stubs.submit("alice", order(sym, "buy", "5", "99"))

    call = stubs.market.StreamBook(md.StreamBookRequest(symbol=sym))
    snap = await read(call)
    assert snap.snapshot
    assert snap.prev_seq == 0
    assert snap.seq == 2
    book = {
        "bid": {lv.price: lv.qty for lv in snap.bids},
        "ask": {lv.price: lv.qty for lv in snap.asks},
    }
    assert book == {"bid": {"99": "5"}, "ask": {"101": "5"}}

    await stubs.submit("bob", order(sym, "buy", "2", "101"))
    await stubs.submit("bob", order(sym, "buy", "4", "99.5"))
    await stubs.submit("carol", order(sym, "sell", "1", "", "market"))
    last = await stubs.submit("carol", order(sym, "sell", "1", "98", "ioc"))

    seq = snap.seq
    while seq < last.seq:
        update = await read(call)
        assert not update.snapshot
        assert update.prev_seq == seq, "every update chains to the one before"
        seq = update.seq
        for side, levels in (("bid", update.bids), ("ask", update.asks)):
            for lv in levels:
                if lv.qty == "0":
                    book[side].pop(lv.price, None)
                else:
                    book[side][lv.price] = lv.qty
    bids, asks = await stubs.book(sym)
    assert book == {
        "bid": {price: qty for price, qty, _ in bids},
        "ask": {price: qty for price, qty, _ in asks},
    }
    assert book == {"bid": {"99.5": "2", "99": "5"}, "ask": {"101": "3"}}
    call.cancel()


async def test_trades_stream_and_recent_trades(engine: EngineProcess, stubs: Stubs) -> None:
    sym = engine.symbol()
    call = stubs.market.StreamTrades(md.StreamTradesRequest(symbol=sym))
    await asyncio.wait_for(call.initial_metadata(), TIMEOUT)

    await stubs.submit("alice", order(sym, "sell", "2", "100"))
    await stubs.submit("alice", order(sym, "sell", "2", "100.5"))
    await stubs.submit("bob", order(sym, "buy", "3", "101"))
    await stubs.submit("bob", order(sym, "buy", "1", "101"))

    trades = [await read(call) for _ in range(3)]
    assert [(t.trade_id, t.price, t.qty, t.aggressor) for t in trades] == [
        (1, "100", "2", pb.SIDE_BUY),
        (2, "100.5", "1", pb.SIDE_BUY),
        (3, "100.5", "1", pb.SIDE_BUY),
    ]
    assert [t.seq for t in trades] == [3, 3, 4]

    recent = await stubs.market.ListTrades(md.ListTradesRequest(symbol=sym, limit=2))
    assert [t.trade_id for t in recent.trades] == [2, 3]
    everything = await stubs.market.ListTrades(md.ListTradesRequest(symbol=sym))
    assert [t.trade_id for t in everything.trades] == [1, 2, 3]
    call.cancel()


async def test_instruments_are_listed(stubs: Stubs) -> None:
    listed = await stubs.market.ListInstruments(md.ListInstrumentsRequest())
    btc = {i.symbol: i for i in listed.instruments}["BTC-USD"]
    assert (btc.tick_size, btc.lot_size, btc.min_qty, btc.max_qty) == (
        "0.01",
        "0.0001",
        "0.0001",
        "1000",
    )
