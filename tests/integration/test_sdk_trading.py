"""The SDK against a real engine: orders place, match, cancel, amend, in bulk and idempotently."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engine_harness import EngineProcess

from dome.client import (
    AuthError,
    CancelOrder,
    Client,
    NewOrder,
    OrderValueError,
    UnavailableError,
    UnknownSymbolError,
)
from dome.core.types import OrderStatus, RejectReason, Side


@pytest.fixture
async def alice(engine: EngineProcess) -> Client:
    async with Client(engine.address, engine.accounts["alice"]) as client:
        yield client  # type: ignore[misc]


@pytest.fixture
async def bob(engine: EngineProcess) -> Client:
    async with Client(engine.address, engine.accounts["bob"]) as client:
        yield client  # type: ignore[misc]


async def test_instruments_are_decimal_specs(alice: Client) -> None:
    specs = await alice.instruments()
    assert specs["BTC-USD"].lot_size == Decimal("0.0001")
    assert specs["S0"].tick_size == Decimal("0.01")


async def test_place_match_and_fills(engine: EngineProcess, alice: Client, bob: Client) -> None:
    sym = engine.symbol()
    rest = await alice.submit_order(sym, "sell", "5", "101.50")
    assert rest.status is OrderStatus.NEW
    assert rest.remaining_qty == Decimal(5)
    assert rest.order_id > 0
    take = await bob.submit_order(sym, Side.BUY, Decimal(3), Decimal("101.5"), "ioc")
    assert take.status is OrderStatus.FILLED
    assert take.filled_qty == Decimal(3)
    assert [(f.price, f.qty, f.maker) for f in take.fills] == [(Decimal("101.5"), 3, False)]
    book = await alice.book(sym)
    assert [(lv.price, lv.qty, lv.order_count) for lv in book.asks] == [(Decimal("101.5"), 2, 1)]
    trades = await alice.trades(sym)
    assert [(t.price, t.qty, t.aggressor) for t in trades] == [(Decimal("101.5"), 3, Side.BUY)]


async def test_cancel_and_amend(engine: EngineProcess, alice: Client) -> None:
    sym = engine.symbol()
    placed = await alice.submit_order(sym, "buy", "10", "99")
    amended = await alice.amend_order(sym, placed.order_id, qty="4")
    assert amended.status is OrderStatus.NEW
    assert amended.remaining_qty == Decimal(4)
    [open_order] = await alice.open_orders(sym)
    assert (open_order.order_id, open_order.price, open_order.remaining_qty) == (
        placed.order_id,
        Decimal(99),
        Decimal(4),
    )
    cancelled = await alice.cancel_order(sym, placed.order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.cancelled_qty == Decimal(4)
    assert await alice.open_orders(sym) == []
    again = await alice.cancel_order(sym, placed.order_id)
    assert again.rejected
    assert again.reject_reason is RejectReason.TOO_LATE_TO_CANCEL


async def test_foreign_order_cannot_be_cancelled(
    engine: EngineProcess, alice: Client, bob: Client
) -> None:
    sym = engine.symbol()
    placed = await alice.submit_order(sym, "buy", "1", "50")
    result = await bob.cancel_order(sym, placed.order_id)
    assert result.reject_reason is RejectReason.NOT_ORDER_OWNER


async def test_retry_with_same_client_order_id_is_idempotent(
    engine: EngineProcess, alice: Client
) -> None:
    sym = engine.symbol()
    first = await alice.submit_order(sym, "buy", "2", "10", client_order_id="retry-1")
    second = await alice.submit_order(sym, "buy", "2", "10", client_order_id="retry-1")
    assert second.order_id == first.order_id
    assert second.duplicate
    assert len(await alice.open_orders(sym)) == 1


async def test_off_grid_values_are_refused_client_side(
    engine: EngineProcess, alice: Client
) -> None:
    sym = engine.symbol()
    with pytest.raises(OrderValueError) as exc:
        await alice.submit_order(sym, "buy", "1", "10.005")
    assert exc.value.reason is RejectReason.PRICE_OFF_TICK
    with pytest.raises(OrderValueError) as exc:
        await alice.submit_order("BTC-USD", "buy", "0.00001", "10")
    assert exc.value.reason is RejectReason.QTY_OFF_LOT
    with pytest.raises(UnknownSymbolError):
        await alice.submit_order("NOPE", "buy", "1", "10")


async def test_exchange_rejects_are_results(engine: EngineProcess, alice: Client) -> None:
    sym = engine.symbol()
    result = await alice.submit_order(sym, "buy", "1", type="market")
    assert result.rejected
    assert result.reject_reason is RejectReason.NO_LIQUIDITY


async def test_bulk_submit_and_cancel(engine: EngineProcess, alice: Client, bob: Client) -> None:
    sym = engine.symbol()
    orders = [NewOrder(sym, "sell", "1", Decimal(100) + i) for i in range(250)]
    results = await alice.submit_orders(orders, batch_size=64)
    assert len(results) == 250
    assert all(r.status is OrderStatus.NEW for r in results)
    assert len({r.order_id for r in results}) == 250
    take = await bob.submit_order(sym, "buy", "10", "109", "ioc")
    assert take.filled_qty == 10
    assert [f.price for f in take.fills] == [Decimal(100) + i for i in range(10)]
    cancels = await alice.submit_orders(CancelOrder(sym, r.order_id) for r in results)
    statuses = [r.status for r in cancels]
    assert statuses[:10] == [OrderStatus.REJECTED] * 10  # already filled
    assert statuses[10:] == [OrderStatus.CANCELLED] * 240
    assert (await alice.book(sym)).asks == ()


async def test_bad_token_is_auth_error(engine: EngineProcess) -> None:
    sym = engine.symbol()
    # ``connect`` refuses the token (test_sdk_errors); a client used without it still
    # gets AuthError from every call.
    client = Client(engine.address, "not-a-token")
    try:
        with pytest.raises(AuthError):
            await client.submit_order(sym, "buy", "1", "1")
        # Bulk and streams too, every time: the SDK waits for the engine to accept a
        # stream before writing, so grpc.aio cannot turn the refusal into INTERNAL.
        for _ in range(30):
            with pytest.raises(AuthError):
                await client.submit_orders([NewOrder(sym, "buy", "1", "1")])
        with pytest.raises(AuthError):
            await client.subscribe_executions([sym])
    finally:
        await client.close()


async def test_unreachable_target_fails_within_deadline() -> None:
    client = Client("127.0.0.1:1", "x", timeout=0.5, retry_deadline=0.5)
    with pytest.raises(UnavailableError):
        await client.connect()
    await client.close()
