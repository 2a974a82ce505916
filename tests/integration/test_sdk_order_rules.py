"""The SDK and the CLI against a real engine: too late to cancel, a reused client order
id, cancel by client order id, exchange-side mass cancel and one's own history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from client_helpers import dome, dome_json
from engine_harness import EngineProcess

from dome.client import Client, ExecType, OrderStatus, RejectReason


@pytest.fixture
async def alice(engine: EngineProcess) -> AsyncIterator[Client]:
    async with Client(engine.address, engine.accounts["alice"]) as client:
        yield client


@pytest.fixture
async def bob(engine: EngineProcess) -> AsyncIterator[Client]:
    async with Client(engine.address, engine.accounts["bob"]) as client:
        yield client


async def test_too_late_is_not_unknown(engine: EngineProcess, alice: Client, bob: Client) -> None:
    sym = engine.symbol()
    maker = await alice.submit_order(sym, "sell", "2", "10")
    await bob.submit_order(sym, "buy", "2", "10", "ioc")
    late = await alice.cancel_order(sym, maker.order_id)
    assert (late.status, late.reject_reason) == (
        OrderStatus.REJECTED,
        RejectReason.TOO_LATE_TO_CANCEL,
    )
    made_up = await alice.cancel_order(sym, 987_654)
    assert made_up.reject_reason is RejectReason.UNKNOWN_ORDER


async def test_reused_client_order_id(engine: EngineProcess, alice: Client) -> None:
    sym = engine.symbol()
    first = await alice.submit_order(sym, "buy", "3", "9", client_order_id="mine-1")
    other = await alice.submit_order(sym, "buy", "4", "9", client_order_id="mine-1")
    assert other.reject_reason is RejectReason.CLIENT_ORDER_ID_REUSED
    same = await alice.submit_order(sym, "buy", "3", "9", client_order_id="mine-1")
    assert (same.order_id, same.duplicate) == (first.order_id, True)
    assert [o.remaining_qty for o in await alice.open_orders(sym)] == [Decimal(3)]


async def test_cancel_by_client_order_id_and_cancel_all(
    engine: EngineProcess, alice: Client, bob: Client
) -> None:
    sym, other = engine.symbol(), engine.symbol()
    await alice.submit_order(sym, "sell", "1", "20", client_order_id="q-1")
    by_cid = await alice.cancel_order(sym, client_order_id="q-1")
    assert (by_cid.status, by_cid.client_order_id) == (OrderStatus.CANCELLED, "q-1")
    for s in (sym, other):
        await alice.submit_order(s, "sell", "1", "21")
        await alice.submit_order(s, "buy", "1", "5")
    await bob.submit_order(sym, "sell", "1", "22")
    only_one = await alice.cancel_all(other)
    assert [r.status for r in only_one] == [OrderStatus.CANCELLED] * 2
    assert await alice.open_orders(other) == []
    assert len(await alice.open_orders(sym)) == 2
    everything = await alice.cancel_all()  # other tests' orders on this engine too
    assert sum(r.symbol == sym for r in everything) == 2
    assert await alice.open_orders() == []
    assert len(await bob.open_orders(sym)) == 1
    with pytest.raises(ValueError, match="order_id or a client_order_id"):
        await alice.cancel_order(sym)


async def test_history_pages_and_seeds_the_portfolio(
    engine: EngineProcess, alice: Client, bob: Client
) -> None:
    sym = engine.symbol()
    for price in ("10", "11", "12"):
        await alice.submit_order(sym, "sell", "1", price)
    await bob.submit_order(sym, "buy", "3", "12", "ioc")
    page = await alice.history_page(sym, limit=2)
    assert [r.exec_type for r in page.reports] == [ExecType.NEW, ExecType.NEW]
    rest = await alice.history_page(sym, page.next_from_seq)
    assert [r.status for r in rest.reports] == [OrderStatus.NEW] + [OrderStatus.FILLED] * 3
    assert rest.next_from_seq == 0
    portfolio = await alice.portfolio([sym])
    position = portfolio.position(sym)
    assert (position.qty, position.avg_price) == (Decimal(-3), Decimal(11))


def test_cli_cancel_all_by_client_id_and_history(engine: EngineProcess) -> None:
    auth = ("--target", engine.address, "--token", engine.accounts["alice"])
    sym = engine.symbol()
    dome_json("order", *auth, "--symbol", sym, "--side", "buy", "--qty", "2", "--price", "5",
              "--client-order-id", "cli-1")  # fmt: skip
    dome_json("order", *auth, "--symbol", sym, "--side", "buy", "--qty", "1", "--price", "4")
    one = dome_json("cancel", *auth, "--symbol", sym, "--client-order-id", "cli-1")
    assert (one["status"], one["cancelled_qty"]) == ("cancelled", "2")
    again = dome_json("cancel", *auth, "--symbol", sym, "--client-order-id", "cli-1")
    assert again["reject_reason"] == "too_late_to_cancel"
    rest = dome_json("cancel", *auth, "--symbol", sym, "--all")
    assert [r["status"] for r in rest] == ["cancelled"]
    history = dome_json("history", *auth, "--symbol", sym)
    assert [(h["exec_type"], h["client_order_id"]) for h in history][:2] == [
        ("new", "cli-1"),
        ("new", history[1]["client_order_id"]),
    ]
    assert [h["exec_type"] for h in history] == [
        "new",
        "new",
        "cancelled",
        "rejected",
        "cancelled",
    ]
    table = dome("history", *auth, "--symbol", sym)
    assert table.returncode == 0
    assert "cli-1" in table.stdout
    dome_json("order", *auth, "--symbol", sym, "--side", "sell", "--qty", "2", "--price", "7",
              "--client-order-id", "desk/1")  # fmt: skip
    bob = ("--target", engine.address, "--token", engine.accounts["bob"])
    dome_json("order", *bob, "--symbol", sym, "--side", "buy", "--qty", "2", "--price", "7")
    positions = dome_json("positions", *auth, "--symbol", sym, "--book", "desk")
    assert positions["complete"]
    assert positions["as_of_seq"] > 0
    assert [(p["book"], p["qty"], p["avg_price"], p["fills"]) for p in positions["positions"]] == [
        ("desk", "-2", "7", 1)
    ]
    usage = dome("cancel", *auth, "--order-id", "1")
    assert usage.returncode == 2
    assert "--symbol" in usage.stderr


async def test_the_engines_limits_are_visible(alice: Client) -> None:
    limits = alice.limits
    assert limits is not None
    assert (limits.commands_per_second, limits.max_streams_per_account) == (50_000, 16)
    assert (limits.max_message_bytes, limits.max_calls) == (1024 * 1024, 20_000)
    assert limits.max_pending_per_account == 20_000
