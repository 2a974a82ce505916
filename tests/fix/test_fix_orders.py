"""Order entry through the FIX gateway, driven by QuickFIX/J initiators.

Two accounts each hold a FIX session: orders are acknowledged, fills are pushed to both
sides as they happen with CumQty, LeavesQty and AvgPx right, cancels and replaces answer
with the request's ClOrdID, and a ClOrdID is DOME's client order id, so an order sent
again books nothing new. The engine's own book is the check on what really happened.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import grpc
from engine_harness import EngineProcess, Stubs
from initiator import Connect, Fix, Initiator

NOW = "60=20260101-00:00:00.000"


def new_order(
    cl_ord_id: str, symbol: str, side: str, qty: str, price: str | None = None, *extra: str
) -> list[str]:
    """NewOrderSingle fields: limit unless ``price`` is None (market)."""
    side_code = "1" if side == "buy" else "2"
    fields = ["35=D", f"11={cl_ord_id}", f"55={symbol}", f"54={side_code}", NOW, f"38={qty}"]
    fields += ["40=2", f"44={price}"] if price is not None else ["40=1"]
    return [*fields, *extra]


def report(session: Initiator, cl_ord_id: str, exec_type: str, count: int = 1) -> list[Fix]:
    return session.wait_for(
        lambda m: m.msg_type == "8" and m.get(11) == cl_ord_id and m.get(150) == exec_type,
        what=f"ExecutionReport 150={exec_type} for {cl_ord_id}",
        count=count,
    )


async def book(engine: EngineProcess, symbol: str) -> tuple[list[tuple[str, str, int]], ...]:
    async with grpc.aio.insecure_channel(engine.address) as channel:
        return await Stubs(channel, engine).book(symbol)


def test_limit_order_is_acknowledged_and_rests(engine: EngineProcess, connect: Connect) -> None:
    symbol = engine.symbol()
    alice = connect("alice")
    alice.send(*new_order(f"{symbol}-a-1", symbol, "buy", "5", "100.25", "59=1"))
    (ack,) = report(alice, f"{symbol}-a-1", "0")
    assert ack[39] == "0"
    assert ack[14] == "0"
    assert ack[151] == "5"
    assert ack[6] == "0"
    assert ack[38] == "5"
    assert ack[44] == "100.25"
    assert ack[55] == symbol
    assert ack[54] == "1"
    assert ack[37] != "NONE"
    assert ack[17] == f"{symbol}:1:0"
    assert asyncio.run(book(engine, symbol))[0] == [("100.25", "5", 1)]


def test_fills_are_pushed_to_both_sides(engine: EngineProcess, connect: Connect) -> None:
    symbol = engine.symbol()
    alice, bob = connect("alice"), connect("bob")
    alice.send(*new_order(f"{symbol}-a-1", symbol, "sell", "3", "101"))
    alice.send(*new_order(f"{symbol}-a-2", symbol, "sell", "4", "102"))
    report(alice, f"{symbol}-a-2", "0")
    bob.send(*new_order(f"{symbol}-b-1", symbol, "buy", "5", "102"))

    (maker_fill,) = report(alice, f"{symbol}-a-1", "F")
    assert maker_fill[39] == "2"
    assert maker_fill[32] == "3"
    assert maker_fill[31] == "101"
    assert maker_fill[14] == "3"
    assert maker_fill[151] == "0"
    assert maker_fill[851] == "1"
    (partial,) = report(alice, f"{symbol}-a-2", "F")
    assert partial[39] == "1"
    assert partial[32] == "2"
    assert partial[14] == "2"
    assert partial[151] == "2"
    assert partial[6] == "102"

    # The taker: acknowledged first, then its two fills; AvgPx over both, exactly.
    taker = bob.wait_for(lambda m: m.msg_type == "8" and m.get(11) == f"{symbol}-b-1", count=3)
    assert [m[150] for m in taker] == ["0", "F", "F"]
    last = taker[-1]
    assert last[39] == "2"
    assert last[14] == "5"
    assert last[151] == "0"
    assert last[851] == "2"
    assert Decimal(last[6]) == (3 * Decimal(101) + 2 * Decimal(102)) / 5
    # ExecIDs are unique within each session.
    assert len({m[17] for m in alice.reports()}) == len(alice.reports())
    assert len({m[17] for m in bob.reports()}) == len(bob.reports()) == 3
    assert asyncio.run(book(engine, symbol)) == ([], [("102", "2", 1)])


def test_cancel_answers_with_the_requests_cl_ord_id(
    engine: EngineProcess, connect: Connect
) -> None:
    symbol = engine.symbol()
    alice = connect("alice")
    alice.send(*new_order(f"{symbol}-a-1", symbol, "buy", "5", "99"))
    report(alice, f"{symbol}-a-1", "0")
    alice.send(
        "35=F", f"11={symbol}-a-1-cxl", f"41={symbol}-a-1", f"55={symbol}", "54=1", NOW, "38=5"
    )
    (cancelled,) = report(alice, f"{symbol}-a-1-cxl", "4")
    assert cancelled[41] == f"{symbol}-a-1"
    assert cancelled[39] == "4"
    assert cancelled[151] == "0"
    assert asyncio.run(book(engine, symbol)) == ([], [])

    # Once done, a second cancel is too late: OrderCancelReject, the book untouched.
    alice.send(
        "35=F", f"11={symbol}-a-1-cxl2", f"41={symbol}-a-1-cxl", f"55={symbol}", "54=1", NOW, "38=5"
    )
    (refused,) = alice.wait_for(lambda m: m.msg_type == "9" and m.get(11) == f"{symbol}-a-1-cxl2")
    assert refused[102] == "0"
    assert refused[434] == "1"
    assert refused[39] == "4"
    alice.send(
        "35=F", f"11={symbol}-x-cxl", f"41={symbol}-nope", f"55={symbol}", "54=1", NOW, "38=5"
    )
    (unknown,) = alice.wait_for(lambda m: m.msg_type == "9" and m.get(11) == f"{symbol}-x-cxl")
    assert unknown[102] == "1"
    assert unknown[39] == "8"


def test_replace_changes_price_and_qty(engine: EngineProcess, connect: Connect) -> None:
    symbol = engine.symbol()
    alice, bob = connect("alice"), connect("bob")
    alice.send(*new_order(f"{symbol}-a-1", symbol, "buy", "10", "99"))
    report(alice, f"{symbol}-a-1", "0")
    bob.send(*new_order(f"{symbol}-b-1", symbol, "sell", "4", "99"))
    report(alice, f"{symbol}-a-1", "F")

    # New total OrderQty 8 with 4 filled: 4 stay open, at the new price.
    replace = [
        "35=G",
        f"11={symbol}-a-1-r1",
        f"41={symbol}-a-1",
        f"55={symbol}",
        "54=1",
        NOW,
        "38=8",
        "40=2",
    ]
    alice.send(*replace, "44=98.5")
    (replaced,) = report(alice, f"{symbol}-a-1-r1", "5")
    assert replaced[41] == f"{symbol}-a-1"
    assert replaced[39] == "1"
    assert replaced[38] == "8"
    assert replaced[14] == "4"
    assert replaced[151] == "4"
    assert replaced[44] == "98.5"
    assert asyncio.run(book(engine, symbol))[0] == [("98.5", "4", 1)]

    # Fills after the replace carry the new ClOrdID.
    bob.send(*new_order(f"{symbol}-b-2", symbol, "sell", "4", "98.5"))
    (fill,) = report(alice, f"{symbol}-a-1-r1", "F")
    assert fill[39] == "2"
    assert fill[14] == "8"
    assert fill[151] == "0"

    # A replace of a filled order is too late; one to a qty at CumQty is refused.
    alice.send(
        "35=G",
        f"11={symbol}-a-1-r2",
        f"41={symbol}-a-1-r1",
        f"55={symbol}",
        "54=1",
        NOW,
        "38=9",
        "40=2",
        "44=98",
    )
    (late,) = alice.wait_for(lambda m: m.msg_type == "9" and m.get(11) == f"{symbol}-a-1-r2")
    assert late[102] == "0"
    assert late[434] == "2"


def test_ioc_fok_market_and_post_only(engine: EngineProcess, connect: Connect) -> None:
    symbol = engine.symbol()
    alice, bob = connect("alice"), connect("bob")
    alice.send(*new_order(f"{symbol}-a-1", symbol, "sell", "3", "100"))
    report(alice, f"{symbol}-a-1", "0")

    # FOK for more than rests: rejected whole, book untouched.
    bob.send(*new_order(f"{symbol}-b-fok", symbol, "buy", "5", "100", "59=4"))
    (fok,) = report(bob, f"{symbol}-b-fok", "8")
    assert fok[39] == "8"
    assert fok[103] == "99"
    assert "fill-or-kill" in fok[58]
    # Post-only that would take: rejected.
    bob.send(*new_order(f"{symbol}-b-po", symbol, "buy", "1", "100", "18=6"))
    (post,) = report(bob, f"{symbol}-b-po", "8")
    assert "post-only" in post[58]
    # IOC for 5 at 100: 3 fill, 2 cancelled.
    bob.send(*new_order(f"{symbol}-b-ioc", symbol, "buy", "5", "100", "59=3"))
    assert [m[150] for m in bob.wait_for(lambda m: m.get(11) == f"{symbol}-b-ioc", count=3)] == [
        "0",
        "F",
        "4",
    ]
    (cancelled,) = report(bob, f"{symbol}-b-ioc", "4")
    assert cancelled[14] == "3"
    assert cancelled[151] == "0"
    assert cancelled[39] == "4"
    # Post-only that rests, then a market order takes it.
    bob.send(*new_order(f"{symbol}-b-po2", symbol, "buy", "2", "99", "18=6"))
    report(bob, f"{symbol}-b-po2", "0")
    alice.send(*new_order(f"{symbol}-a-mkt", symbol, "sell", "2"))
    (taken,) = report(alice, f"{symbol}-a-mkt", "F")
    assert taken[31] == "99"
    assert taken[39] == "2"
    assert taken[40] == "1"
    assert asyncio.run(book(engine, symbol)) == ([], [])


def test_a_resent_order_books_nothing_new(engine: EngineProcess, connect: Connect) -> None:
    symbol = engine.symbol()
    alice = connect("alice")
    alice.send(*new_order(f"{symbol}-a-1", symbol, "buy", "5", "100"))
    report(alice, f"{symbol}-a-1", "0")
    # The same ClOrdID again: refused as a duplicate (OrdRejReason 6), nothing booked.
    alice.send(*new_order(f"{symbol}-a-1", symbol, "buy", "5", "100"))
    (dup,) = report(alice, f"{symbol}-a-1", "8")
    assert dup[103] == "6"
    # Sent again by the application (PossResend): the order's status, nothing booked.
    alice.send(*new_order(f"{symbol}-a-1", symbol, "buy", "5", "100"), "97=Y")
    (status,) = report(alice, f"{symbol}-a-1", "I")
    assert status[39] == "0"
    assert status[151] == "5"
    assert asyncio.run(book(engine, symbol))[0] == [("100", "5", 1)]
    # OrderStatusRequest: the same picture.
    alice.send("35=H", f"11={symbol}-a-1", f"55={symbol}", "54=1")
    assert len(report(alice, f"{symbol}-a-1", "I", count=2)) == 2


def test_self_trade_prevention_cancels_the_resting_order(
    engine: EngineProcess, connect: Connect
) -> None:
    symbol = engine.symbol()
    alice = connect("alice")
    alice.send(*new_order(f"{symbol}-a-1", symbol, "buy", "2", "100"))
    report(alice, f"{symbol}-a-1", "0")
    # Her own sell would trade with her buy: DOME cancels the resting buy, the sell rests.
    alice.send(*new_order(f"{symbol}-a-2", symbol, "sell", "2", "100"))
    (cancelled,) = report(alice, f"{symbol}-a-1", "4")
    (rested,) = report(alice, f"{symbol}-a-2", "0")
    assert cancelled[17].split(":")[1] == rested[17].split(":")[1]  # one command, one seq
    assert asyncio.run(book(engine, symbol)) == ([], [("100", "2", 1)])
