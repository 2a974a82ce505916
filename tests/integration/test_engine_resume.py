"""Resuming streams on a real engine: from_seq for executions, after_trade_id for trades.

A subscriber arriving from a dead replica asks for everything from its last position;
it must get exactly what it has not seen, then the live stream, with no repeat.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from engine_harness import EngineProcess, Stubs, order

from dome.v1 import market_data_pb2 as md
from dome.v1 import trading_pb2 as tr

TIMEOUT = 10.0


async def take(call: Any, n: int) -> list[Any]:
    """The next ``n`` messages of a stream, failing after ``TIMEOUT``."""
    return [await asyncio.wait_for(call.read(), TIMEOUT) for _ in range(n)]


async def trade_a_little(stubs: Stubs, sym: str, maker: str = "alice") -> None:
    """Maker rests three asks; bob sweeps two in one order, then takes from the third."""
    for i, (qty, price) in enumerate([("2", "10"), ("3", "11"), ("4", "12")]):
        await stubs.submit(maker, order(sym, "sell", qty, price, client_order_id=f"m{i}"))
    await stubs.submit("bob", order(sym, "buy", "5", "11", client_order_id="b1"))
    await stubs.submit("bob", order(sym, "buy", "1", "12", client_order_id="b2"))


def executions(stubs: Stubs, account: str, sym: str, from_seq: int | None) -> Any:
    request = tr.StreamExecutionsRequest(symbols=[sym])
    if from_seq is not None:
        request.from_seq[sym] = from_seq
    return stubs.trading.StreamExecutions(request, metadata=stubs.engine.auth(account))


def key(r: tr.ExecutionReport) -> tuple[int, int, int, str]:
    return (r.seq, r.exec_type, r.order_id, r.remaining_qty)


async def test_resume_from_a_seq_in_the_middle_replays_exactly_the_rest(
    engine: EngineProcess, stubs: Stubs
) -> None:
    sym = engine.symbol()
    await trade_a_little(stubs, sym)
    # Everything alice was told about this symbol (she had no stream while trading).
    everything = await take(executions(stubs, "alice", sym, 1), 6)
    assert [r.client_order_id for r in everything] == ["m0", "m1", "m2", "m0", "m1", "m2"]
    shared = everything[3].seq  # bob's sweep: two alice reports with one seq
    assert everything[4].seq == shared

    resumed = executions(stubs, "alice", sym, shared)
    replayed = await take(resumed, 3)
    assert [key(r) for r in replayed] == [key(r) for r in everything[3:]]
    assert replayed[0].prev_seq == everything[2].seq
    # Then live, with nothing repeated at the junction.
    cancel = tr.CancelOrderRequest(symbol=sym, order_id=everything[2].order_id)
    await stubs.trading.CancelOrder(cancel, metadata=engine.auth("alice"))
    (live,) = await take(resumed, 1)
    assert live.exec_type == tr.EXEC_TYPE_CANCELLED
    assert live.prev_seq == replayed[-1].seq
    resumed.cancel()


async def test_resume_for_an_account_that_never_streamed(
    engine: EngineProcess, stubs: Stubs
) -> None:
    sym = engine.symbol()
    await trade_a_little(stubs, sym, maker="carol")
    call = executions(stubs, "carol", sym, 1)
    got = await take(call, 6)
    assert [(r.exec_type, r.client_order_id) for r in got] == [
        (tr.EXEC_TYPE_NEW, "m0"),
        (tr.EXEC_TYPE_NEW, "m1"),
        (tr.EXEC_TYPE_NEW, "m2"),
        (tr.EXEC_TYPE_TRADE, "m0"),
        (tr.EXEC_TYPE_TRADE, "m1"),
        (tr.EXEC_TYPE_TRADE, "m2"),
    ]
    assert [r.prev_seq for r in got[1:]] == [r.seq for r in got[:-1]]
    call.cancel()


async def test_resume_after_the_last_report_is_live_only(
    engine: EngineProcess, stubs: Stubs
) -> None:
    sym = engine.symbol()
    await trade_a_little(stubs, sym)
    book = await stubs.market.GetBook(md.GetBookRequest(symbol=sym))
    call = executions(stubs, "alice", sym, book.seq + 1)
    await asyncio.wait_for(call.initial_metadata(), TIMEOUT)
    rest = await stubs.submit("alice", order(sym, "sell", "1", "50", client_order_id="late"))
    (live,) = await take(call, 1)
    assert (live.order_id, live.client_order_id) == (rest.order_id, "late")
    call.cancel()


async def test_trades_resume_after_an_id(engine: EngineProcess, stubs: Stubs) -> None:
    sym = engine.symbol()
    await trade_a_little(stubs, sym)
    call = stubs.market.StreamTrades(md.StreamTradesRequest(symbol=sym, after_trade_id=1))
    replayed = await take(call, 2)
    assert [t.trade_id for t in replayed] == [2, 3]
    await stubs.submit("bob", order(sym, "buy", "1", "12", "ioc"))
    (live,) = await take(call, 1)
    assert live.trade_id == 4
    call.cancel()


async def test_trades_resume_too_far_back_is_out_of_range(
    engine: EngineProcess, stubs: Stubs
) -> None:
    sym = engine.symbol()
    # More trades than the engine's ring holds (10,000: NodeLimits.trade_ring).
    for _ in range(11):
        await stubs.submit("alice", order(sym, "sell", "1000", "10"))
    batch = tr.OrderBatch(
        actions=[tr.OrderAction(submit=order(sym, "buy", "1", "10", "ioc")) for _ in range(10_050)]
    )

    async def one_batch() -> Any:
        yield batch

    async for _ in stubs.trading.SubmitOrders(one_batch(), metadata=engine.auth("bob")):
        pass
    held = await stubs.market.ListTrades(md.ListTradesRequest(symbol=sym, limit=20_000))
    assert held.trades[0].trade_id > 1
    call = stubs.market.StreamTrades(md.StreamTradesRequest(symbol=sym, after_trade_id=1))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await take(call, 1)
    assert err.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "no longer held" in (err.value.details() or "")
    # The oldest held trade is still a valid place to resume from.
    first = held.trades[0].trade_id
    ok = stubs.market.StreamTrades(md.StreamTradesRequest(symbol=sym, after_trade_id=first - 1))
    assert [t.trade_id for t in await take(ok, 2)] == [first, first + 1]
    ok.cancel()


async def test_executions_resume_for_an_unknown_symbol_is_not_found(
    engine: EngineProcess, stubs: Stubs
) -> None:
    request = tr.StreamExecutionsRequest()
    request.from_seq["NOPE"] = 1
    call = stubs.trading.StreamExecutions(request, metadata=engine.auth("alice"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await take(call, 1)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
