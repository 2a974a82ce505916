"""Every client command of the ``dome`` CLI, as a subprocess: JSON shapes and exit codes."""

from __future__ import annotations

import pytest
from client_helpers import dome, dome_json
from engine_harness import EngineProcess


@pytest.fixture(scope="module")
def alice(engine: EngineProcess) -> tuple[str, ...]:
    return ("--target", engine.address, "--token", engine.accounts["alice"])


@pytest.fixture(scope="module")
def bob(engine: EngineProcess) -> tuple[str, ...]:
    return ("--target", engine.address, "--token", engine.accounts["bob"])


ORDER_KEYS = {
    "order_id",
    "client_order_id",
    "status",
    "reject_reason",
    "filled_qty",
    "remaining_qty",
    "fills",
}


def test_order_match_book_trades_orders(
    engine: EngineProcess, alice: tuple[str, ...], bob: tuple[str, ...]
) -> None:
    sym = engine.symbol()
    sell = dome_json("order", *alice, "--symbol", sym, "--side", "sell", "--qty", "5",
                     "--price", "101.50", "--client-order-id", "cli-1")  # fmt: skip
    assert set(sell) == ORDER_KEYS
    assert sell["client_order_id"] == "cli-1"
    assert (sell["status"], sell["reject_reason"], sell["remaining_qty"]) == ("new", None, "5")
    buy = dome_json("order", *bob, "--symbol", sym, "--side", "buy", "--type", "ioc",
                    "--qty", "2", "--price", "101.5")  # fmt: skip
    assert buy["status"] == "filled"
    assert buy["filled_qty"] == "2"
    assert buy["fills"] == [{"trade_id": buy["fills"][0]["trade_id"], "price": "101.5", "qty": "2"}]

    book = dome_json("book", "--target", engine.address, "--symbol", sym, "--depth", "5")
    assert book == {"symbol": sym, "seq": book["seq"], "bids": [], "asks": [["101.5", "3", 1]]}
    trades = dome_json("trades", "--target", engine.address, "--symbol", sym, "--limit", "10")
    assert [(t["price"], t["qty"], t["aggressor"]) for t in trades] == [("101.5", "2", "buy")]
    assert set(trades[0]) == {"trade_id", "seq", "price", "qty", "aggressor"}
    orders = dome_json("orders", *alice, "--symbol", sym)
    assert orders == [
        {
            "order_id": sell["order_id"],
            "client_order_id": "cli-1",
            "side": "sell",
            "price": "101.5",
            "qty": "5",
            "remaining_qty": "3",
            "status": "partially_filled",
        }
    ]
    table = dome("book", "--target", engine.address, "--symbol", sym)
    assert table.returncode == 0
    assert "101.5" in table.stdout


def test_amend_and_cancel(engine: EngineProcess, alice: tuple[str, ...]) -> None:
    sym = engine.symbol()
    placed = dome_json("order", *alice, "--symbol", sym, "--side", "buy", "--qty", "10",
                       "--price", "9")  # fmt: skip
    oid = str(placed["order_id"])
    amended = dome_json("amend", *alice, "--symbol", sym, "--order-id", oid, "--qty", "4")
    assert set(amended) == {"order_id", "status", "reject_reason", "cancelled_qty",
                            "remaining_qty", "filled_qty", "fills"}  # fmt: skip
    assert (amended["status"], amended["remaining_qty"]) == ("new", "4")
    cancelled = dome_json("cancel", *alice, "--symbol", sym, "--order-id", oid)
    assert cancelled == {"order_id": placed["order_id"], "status": "cancelled",
                         "reject_reason": None, "cancelled_qty": "4"}  # fmt: skip
    again = dome_json("cancel", *alice, "--symbol", sym, "--order-id", oid)
    assert (again["status"], again["reject_reason"]) == ("rejected", "too_late_to_cancel")


def test_exchange_reject_is_exit_zero(engine: EngineProcess, alice: tuple[str, ...]) -> None:
    sym = engine.symbol()
    off_tick = dome_json("order", *alice, "--symbol", sym, "--side", "buy", "--qty", "1",
                         "--price", "10.005")  # fmt: skip
    assert (off_tick["status"], off_tick["reject_reason"]) == ("rejected", "price_off_tick")
    no_liq = dome_json("order", *alice, "--symbol", sym, "--side", "buy", "--type", "market",
                       "--qty", "1")  # fmt: skip
    assert no_liq["reject_reason"] == "no_liquidity"


def test_environment_supplies_target_and_token(engine: EngineProcess) -> None:
    env = {"DOME_TARGET": engine.address, "DOME_TOKEN": engine.accounts["carol"]}
    sym = engine.symbol()
    out = dome_json("orders", "--symbol", sym, env=env)
    assert out == []


def test_bad_token_exits_one(engine: EngineProcess) -> None:
    sym = engine.symbol()
    done = dome("order", "--target", engine.address, "--token", "nope", "--symbol", sym,
                "--side", "buy", "--qty", "1", "--price", "1", "--json")  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_unreachable_target_exits_one_within_deadline() -> None:
    done = dome("book", "--target", "127.0.0.1:1", "--symbol", "XYZ", "--timeout", "1", "--json",
                timeout=10)  # fmt: skip
    assert done.returncode == 1
    assert "cannot reach 127.0.0.1:1" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("order", "--symbol", "X", "--side", "hold", "--qty", "1"),
        ("order", "--symbol", "X", "--side", "buy"),
        ("cancel", "--symbol", "X", "--order-id", "abc"),
        ("order", "--target", "127.0.0.1:1", "--symbol", "X", "--side", "buy", "--qty", "1"),
        ("up", "--engines", "0"),
        ("nonsense",),
    ],
    ids=["bad-side", "no-qty", "bad-id", "no-token", "engines", "unknown-command"],
)
def test_usage_errors_exit_two(args: tuple[str, ...]) -> None:
    done = dome(*args)
    assert done.returncode == 2, done.stderr
    if args[0] == "up":
        assert "--engines must be at least 1" in done.stderr


def test_bench_book_prints_json() -> None:
    result = dome_json("bench", "book", "--ops", "500", "--repeats", "1")
    assert result["workload"] == "A"
    assert result["ops"] == 500
