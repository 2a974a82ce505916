"""Market data through the FIX gateway: snapshots (W), incremental refreshes (X), rejects (Y)."""

from __future__ import annotations

from engine_harness import EngineProcess
from initiator import Connect, Fix
from test_fix_orders import new_order, report


def md_request(req_id: str, symbol: str, subscription: str, *types: str) -> list[str]:
    entry_types = [f"269={t}" for t in types]
    return [
        "35=V",
        f"262={req_id}",
        f"263={subscription}",
        "264=0",
        "265=1",
        f"267={len(types)}",
        *entry_types,
        "146=1",
        f"55={symbol}",
    ]


def entries(message: Fix) -> list[tuple[str, ...]]:
    """(action, type, price, size) per entry of an X, (type, price, size) of a W."""
    pairs = [p.partition("=") for p in message.raw.split("|")]
    groups: list[dict[str, str]] = []
    for tag, _, value in pairs:
        if tag in ("279", "269") and (not groups or tag in groups[-1]):
            groups.append({})
        if groups and tag in ("279", "269", "270", "271"):
            groups[-1][tag] = value
    keys = ("279", "269", "270", "271") if message.msg_type == "X" else ("269", "270", "271")
    return [tuple(g.get(k, "") for k in keys) for g in groups]


def test_snapshot_of_the_book(engine: EngineProcess, connect: Connect) -> None:
    symbol = engine.symbol()
    alice, bob = connect("alice"), connect("bob")
    bob.send(*new_order(f"{symbol}-b1", symbol, "buy", "2", "99.5"))
    bob.send(*new_order(f"{symbol}-b2", symbol, "sell", "3", "100.5"))
    report(bob, f"{symbol}-b2", "0")
    alice.send(*md_request("snap-1", symbol, "0", "0", "1"))
    (snapshot,) = alice.wait_for(lambda m: m.msg_type == "W" and m.get(262) == "snap-1")
    assert snapshot[55] == symbol
    assert entries(snapshot) == [("0", "99.5", "2"), ("1", "100.5", "3")]


def test_subscription_gets_increments_and_trades(engine: EngineProcess, connect: Connect) -> None:
    symbol = engine.symbol()
    alice, bob = connect("alice"), connect("bob")
    alice.send(*md_request("sub-1", symbol, "1", "0", "1", "2"))
    (snapshot,) = alice.wait_for(lambda m: m.msg_type == "W" and m.get(262) == "sub-1")
    assert entries(snapshot) == []

    bob.send(*new_order(f"{symbol}-b1", symbol, "sell", "3", "101"))
    alice.wait_for(lambda m: m.msg_type == "X" and ("0", "1", "101", "3") in entries(m))
    alice.send(*new_order(f"{symbol}-a1", symbol, "buy", "1", "101"))
    # The trade, and the level's new size.
    alice.wait_for(lambda m: m.msg_type == "X" and ("0", "2", "101", "1") in entries(m))
    alice.wait_for(lambda m: m.msg_type == "X" and ("1", "1", "101", "2") in entries(m))
    alice.send(*new_order(f"{symbol}-a2", symbol, "buy", "2", "101"))
    alice.wait_for(lambda m: m.msg_type == "X" and ("2", "1", "101", "") in entries(m))

    # Unsubscribe; the MDReqID is then free again (a live one would be a duplicate).
    alice.send(*md_request("sub-1", symbol, "1", "0"))
    (dup,) = alice.wait_for(lambda m: m.msg_type == "Y" and m.get(262) == "sub-1")
    assert dup[281] == "1"
    alice.send(*md_request("sub-1", symbol, "2", "0"))
    alice.send(*md_request("sub-1", symbol, "1", "0"))
    alice.wait_for(lambda m: m.msg_type == "W" and m.get(262) == "sub-1", count=2)


def test_unknown_symbol_is_rejected(connect: Connect) -> None:
    alice = connect("alice")
    alice.send(*md_request("bad-1", "NOPE", "0", "0"))
    (reject,) = alice.wait_for(lambda m: m.msg_type == "Y" and m.get(262) == "bad-1")
    assert reject[281] == "0"
    assert "NOPE" in reject[58]
