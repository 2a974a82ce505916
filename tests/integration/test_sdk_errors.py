"""One error channel: bursts, bad tokens and bad values fail by one rule, typed.

The rule (``dome.client.errors``): what the client can judge raises before sending, what
the exchange judges comes back REJECTED, what stops a call raises an ``RpcError``; the
SDK repeats what is safe to repeat after CANCELLED and RESOURCE_EXHAUSTED too.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from engine_harness import EngineProcess

from dome.client import AuthError, Client, OrderValueError, UnknownSymbolError
from dome.core.types import RejectReason

#: More than grpc-core's default ``grpc.server.max_pending_requests`` (1,000): before the
#: in-flight window, 1,500 concurrent calls lost some to a bare CANCELLED in most runs.
BURST = 1500


async def test_a_burst_of_concurrent_submits_all_land(engine: EngineProcess) -> None:
    sym = engine.symbol()
    async with Client(engine.address, engine.accounts["alice"]) as client:

        async def one(i: int) -> str:
            try:
                result = await client.submit_order(sym, "buy", "1", "1.00")
            except Exception as exc:
                return type(exc).__name__
            return result.status.name if result.status else "?"

        outcomes = Counter(await asyncio.gather(*(one(i) for i in range(BURST))))
        assert outcomes == {"NEW": BURST}
        assert len(await client.open_orders(sym)) == BURST


async def test_a_wrong_token_fails_at_connect(engine: EngineProcess) -> None:
    with pytest.raises(AuthError):
        async with Client(engine.address, "wrong"):
            pass


@pytest.mark.parametrize(
    ("side", "qty", "price", "reason"),
    [
        ("buy", "1", "1.005", RejectReason.PRICE_OFF_TICK),
        ("buy", "0", "1.00", RejectReason.QTY_NOT_POSITIVE),
        ("buy", "-2", "1.00", RejectReason.QTY_NOT_POSITIVE),
        ("buy", "5000", "1.00", RejectReason.QTY_ABOVE_MAX),
        ("buy", "1", "0", RejectReason.PRICE_REQUIRED),
        ("buy", "1", "200000", RejectReason.PRICE_OUT_OF_BAND),
        ("up", "1", "1.00", RejectReason.INVALID_SIDE),
    ],
)
async def test_values_the_spec_decides_raise_before_sending(
    engine: EngineProcess, side: str, qty: str, price: str, reason: RejectReason
) -> None:
    async with Client(engine.address, engine.accounts["alice"]) as client:
        with pytest.raises(OrderValueError) as raised:
            await client.submit_order(engine.symbol(), side, qty, price)
    assert raised.value.reason is reason


async def test_without_checks_the_exchange_rejects_the_same_values(engine: EngineProcess) -> None:
    async with Client(engine.address, engine.accounts["alice"], check=False) as client:
        sym = engine.symbol()
        off_tick = await client.submit_order(sym, "buy", "1", "1.005")
        zero = await client.submit_order(sym, "buy", "0", "1.00")
        unknown = await client.submit_order("NOPE", "buy", "1", "1.00")
        with pytest.raises(OrderValueError) as bad_side:
            await client.submit_order(sym, "up", "1", "1.00")
    assert off_tick.reject_reason is RejectReason.PRICE_OFF_TICK
    assert zero.reject_reason is RejectReason.QTY_NOT_POSITIVE
    assert unknown.reject_reason is RejectReason.UNKNOWN_SYMBOL
    assert bad_side.value.reason is RejectReason.INVALID_SIDE


async def test_an_unknown_symbol_raises_with_checks(engine: EngineProcess) -> None:
    async with Client(engine.address, engine.accounts["alice"]) as client:
        with pytest.raises(UnknownSymbolError):
            await client.submit_order("NOPE", "buy", "1", "1.00")


async def test_open_orders_across_symbols(engine: EngineProcess) -> None:
    first, second = engine.symbol(), engine.symbol()
    async with Client(engine.address, engine.accounts["bob"]) as client:
        await client.submit_order(first, "buy", "1", "1.00")
        await client.submit_order(second, "sell", "2", "99.00")
        mine = await client.open_orders()
    assert {o.symbol: o.remaining_qty for o in mine} == {first: 1, second: 2}
