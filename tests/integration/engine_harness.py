"""Real engine processes for integration tests: spawned like `dome up` does, awaited, stopped.

``engine`` is one ``python -m dome.engine`` process per test module (port 0, a ready
file, an accounts and an instruments file in a temporary directory). Tests isolate
themselves from each other by trading a fresh symbol each (``engine.symbol()``).
``start_engine`` spawns one with extra options for tests that need their own.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from dome.v1 import common_pb2 as pb
from dome.v1 import market_data_pb2 as md
from dome.v1 import market_data_pb2_grpc as md_grpc
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc
from processes import stop_process
from waiting import wait_for

#: Accounts every test engine knows: name -> bearer token.
ACCOUNTS = {"alice": "token-alice", "bob": "token-bob", "carol": "token-carol"}
#: Fresh symbols for tests ("S0".."S99": tick 0.01, lot 1, qty 1..1000, price 1..100000).
TEST_SYMBOLS = [f"S{i}" for i in range(100)]
#: A symbol with decimal lots, as a real crypto pair has.
BTC = {
    "symbol": "BTC-USD",
    "tick_size": "0.01",
    "lot_size": "0.0001",
    "min_qty": "0.0001",
    "max_qty": "1000",
}


@dataclass
class EngineProcess:
    """A running engine, as a test sees it."""

    #: "127.0.0.1:PORT", to dial with grpc.aio.insecure_channel.
    address: str
    #: "http://127.0.0.1:PORT/metrics".
    metrics: str
    #: account name -> bearer token.
    accounts: dict[str, str]
    proc: subprocess.Popen[bytes]
    dir: Path
    _fresh: Iterator[str] = field(default_factory=lambda: iter(TEST_SYMBOLS))

    def symbol(self) -> str:
        """A symbol no earlier test on this engine has traded."""
        return next(self._fresh)

    def auth(self, account: str) -> tuple[tuple[str, str]]:
        """Call metadata authenticating as ``account``."""
        return (("authorization", f"Bearer {self.accounts[account]}"),)

    def log(self) -> str:
        """Everything the engine wrote to stderr so far."""
        return (self.dir / "engine.log").read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait, return the exit code (kill if it will not stop)."""
        return stop_process(self.proc, signal.SIGTERM, timeout)


def start_engine(directory: Path, *extra: str, timeout: float = 30.0) -> EngineProcess:
    """Spawn ``python -m dome.engine`` in ``directory`` and wait for its ready file."""
    directory.mkdir(parents=True, exist_ok=True)
    instruments = [
        {
            "symbol": s,
            "tick_size": "0.01",
            "lot_size": "1",
            "min_qty": "1",
            "max_qty": "1000",
            "min_price": "0.01",
            "max_price": "100000",
        }
        for s in TEST_SYMBOLS
    ]
    (directory / "instruments.json").write_text(json.dumps([*instruments, BTC]))
    (directory / "accounts.json").write_text(json.dumps(ACCOUNTS))
    ready = directory / "ready.json"
    with (directory / "engine.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dome.engine",
                "--port=0",
                "--metrics-port=0",
                f"--instruments={directory / 'instruments.json'}",
                f"--accounts={directory / 'accounts.json'}",
                f"--data-dir={directory / 'data'}",
                f"--ready-file={ready}",
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )

    def ready_info() -> dict[str, object] | None:
        if proc.poll() is not None:
            raise AssertionError(f"engine exited early:\n{(directory / 'engine.log').read_text()}")
        try:
            info = json.loads(ready.read_text())
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    try:
        info = wait_for(ready_info, timeout, "the engine's ready file")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return EngineProcess(
        address=str(info["address"]),
        metrics=str(info["metrics"]),
        accounts=dict(ACCOUNTS),
        proc=proc,
        dir=directory,
    )


# ----------------------------------------------------------------- wire helpers

_SIDES = {"buy": pb.SIDE_BUY, "sell": pb.SIDE_SELL}
_TYPES = {
    "limit": pb.ORDER_TYPE_LIMIT,
    "market": pb.ORDER_TYPE_MARKET,
    "ioc": pb.ORDER_TYPE_IOC,
    "fok": pb.ORDER_TYPE_FOK,
    "post_only": pb.ORDER_TYPE_POST_ONLY,
}


def order(
    symbol: str,
    side: str,
    qty: str,
    price: str = "",
    order_type: str = "limit",
    client_order_id: str = "",
) -> tr.SubmitOrderRequest:
    """A SubmitOrderRequest from short words: ``order("S1", "buy", "5", "101.5")``."""
    return tr.SubmitOrderRequest(
        symbol=symbol,
        side=_SIDES[side],
        type=_TYPES[order_type],
        price=price,
        qty=qty,
        client_order_id=client_order_id,
    )


class Stubs:
    """Both services' stubs on one channel, with per-account metadata at hand."""

    def __init__(self, channel: grpc.aio.Channel, engine: EngineProcess) -> None:
        self.trading = tr_grpc.TradingServiceStub(channel)
        self.market = md_grpc.MarketDataServiceStub(channel)
        self.engine = engine

    async def submit(self, account: str, request: tr.SubmitOrderRequest) -> tr.OrderResult:
        return await self.trading.SubmitOrder(request, metadata=self.engine.auth(account))

    async def book(self, symbol: str) -> tuple[list[tuple[str, str, int]], ...]:
        """(bids, asks) as (price, qty, count) tuples, best first."""
        snap = await self.market.GetBook(md.GetBookRequest(symbol=symbol))
        return (
            [(lv.price, lv.qty, lv.order_count) for lv in snap.bids],
            [(lv.price, lv.qty, lv.order_count) for lv in snap.asks],
        )
