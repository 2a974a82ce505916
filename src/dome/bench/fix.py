"""FIX throughput and acknowledgement latency: one FIX session, beside the SDK, same load.

A ``dome up``-style cluster (discovery and N engines as real processes, ``bench_cluster``)
and a real ``dome fix`` gateway process in front of it, as ``dome up --fix-port`` runs
it. The same load then goes in twice, one way after the other, on one symbol:

- ``sdk``: ``dome.client.Client`` through discovery, ``window`` orders in flight; an order
  is acknowledged when ``submit_order`` returns it accepted.
- ``fix``: one FIX 4.4 session from the quickfix package's initiator (the C++ engine the
  gateway uses too, here on the client's side), ``window`` NewOrderSingles in flight; an
  order is acknowledged by its ExecutionReport with ExecType 0 (New). Latency is from
  handing the NewOrderSingle to QuickFIX to that report arriving.

Orders are limit orders at prices that never cross (buys well below sells), so each
yields exactly one acknowledgement and nothing else. After the last one, a marker order
is sent: the gateway pushes one account's reports in the order the exchange reported
them, so by the marker's acknowledgement any late duplicate would have arrived. The
result counts every acknowledgement per ClOrdID: ``consistent`` means each order was
acknowledged exactly once, none was rejected, and no report named an order not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from dome.bench.cluster import bench_cluster
from dome.bench.engine import bench_instruments
from dome.files import write_json
from dome.instrument_spec import InstrumentSpec
from dome.lifetime import child_environment

#: How long the gateway may take to serve, the FIX session to log on, and a run to end.
GATEWAY_DEADLINE_S = 60.0
LOGON_DEADLINE_S = 30.0
RUN_DEADLINE_S = 600.0
STOP_DEADLINE_S = 20.0
FIX_ACCOUNT = "fix-bench"
SDK_ACCOUNT = "sdk-bench"
#: Prices as multiples of the tick above min(price): buys at 1000 ticks, sells at 2000.
_BUY_TICKS, _SELL_TICKS = 1000, 2000


def run_fix_bench(
    *,
    orders: int = 2000,
    window: int = 32,
    engines: int = 3,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run both loads; ``{"fix": {...}, "sdk": {...}, "consistent": bool, ...}``."""
    if min(orders, window, engines) < 1:
        raise ValueError("orders, window and engines must be positive")
    try:
        import quickfix  # noqa: F401  (the initiator; a clear error before any process starts)
    except ImportError as exc:
        raise ValueError(
            f"dome bench fix needs QuickFIX: pip install 'dome[fix]' ({exc})"
        ) from None
    return asyncio.run(_run(orders, window, engines, progress))


async def _run(
    orders: int, window: int, engines: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    (spec,) = bench_instruments(1)
    tokens = {FIX_ACCOUNT: secrets.token_hex(16), SDK_ACCOUNT: secrets.token_hex(16)}
    async with bench_cluster(
        engines, [spec], tokens, acks=None, fsync=None, progress=progress
    ) as bench:
        discovery = bench.cluster.discovery_address
        assert discovery is not None  # a bench cluster always has discovery
        tokens_file = bench.data / "fix-tokens.json"
        write_json(tokens_file, {FIX_ACCOUNT: tokens[FIX_ACCOUNT]}, private=True)
        progress(f"SDK: {orders} orders, {window} in flight")
        sdk = await _sdk_load(discovery, tokens[SDK_ACCOUNT], spec, orders, window)
        progress("starting the FIX gateway")
        async with _gateway(discovery, tokens_file, bench.data) as port:
            progress(f"FIX: {orders} orders, {window} in flight, one session")
            fix = await asyncio.to_thread(
                _fix_load, port, tokens[FIX_ACCOUNT], spec, orders, window, bench.data
            )
    consistent = (
        fix["acknowledged"] == orders
        and fix["duplicate_acks"] == 0
        and fix["rejected"] == 0
        and fix["unknown_reports"] == 0
        and sdk["acknowledged"] == orders
        and sdk["rejected"] == 0
    )
    return {
        "bench": "fix",
        "orders": orders,
        "window": window,
        "engines": engines,
        "symbol": spec.symbol,
        "fix": fix,
        "sdk": sdk,
        "consistent": consistent,
    }


def _price(spec: InstrumentSpec, index: int) -> tuple[str, Decimal]:
    """Alternate buys and sells at prices that never cross."""
    base = spec.min_price or Decimal(0)
    if index % 2 == 0:
        return "buy", base + spec.tick_size * _BUY_TICKS
    return "sell", base + spec.tick_size * _SELL_TICKS


def summary(latencies_ns: list[int], seconds: float, count: int) -> dict[str, Any]:
    """orders/s and p50/p99 in milliseconds.

    >>> summary([1_000_000, 2_000_000, 3_000_000, 4_000_000], 2.0, 4)["p50_ms"]
    2.0
    """
    ordered = sorted(latencies_ns)

    def quantile(q: float) -> float | None:
        """Nearest rank: the smallest latency at or above a fraction ``q`` of them."""
        if not ordered:
            return None
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] / 1e6, 3)

    return {
        "orders_per_sec": round(count / seconds, 1) if seconds > 0 else None,
        "seconds": round(seconds, 3),
        "p50_ms": quantile(0.5),
        "p99_ms": quantile(0.99),
    }


async def _sdk_load(
    discovery: str, token: str, spec: InstrumentSpec, orders: int, window: int
) -> dict[str, Any]:
    from dome.client import Client

    latencies: list[int] = []
    rejected = 0
    gate = asyncio.Semaphore(window)
    async with Client(discovery=discovery, token=token, client_id=SDK_ACCOUNT) as client:
        side, price = _price(spec, 0)
        await client.submit_order(spec.symbol, side, spec.min_qty, price)  # connect, route

        async def one(index: int) -> None:
            nonlocal rejected
            side, price = _price(spec, index)
            async with gate:
                sent = time.perf_counter_ns()
                result = await client.submit_order(
                    spec.symbol, side, spec.min_qty, price, client_order_id=f"sdk-{index}"
                )
                if result.rejected:
                    rejected += 1
                else:
                    latencies.append(time.perf_counter_ns() - sent)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(orders)))
        seconds = time.perf_counter() - started
    return {
        **summary(latencies, seconds, len(latencies)),
        "sent": orders,
        "acknowledged": len(latencies),
        "rejected": rejected,
    }


@contextlib.asynccontextmanager
async def _gateway(discovery: str, tokens: Path, data: Path) -> Any:
    """``dome fix`` on a free port in front of the cluster; yields its port."""
    ready = data / "fix.ready.json"
    argv = [
        sys.executable, "-m", "dome.fix",
        "--discovery", discovery,
        "--accounts", str(tokens),
        "--port", "0",
        "--metrics-port", "-1",
        "--data-dir", str(data / "fix"),
        "--ready-file", str(ready),
        "--log-level", "warning",
    ]  # fmt: skip
    with (data / "fix.log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=log, stderr=log, start_new_session=True, env=child_environment()
        )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GATEWAY_DEADLINE_S
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"the FIX gateway exited {proc.returncode}; see its log")
            with contextlib.suppress(OSError, ValueError):
                address = str(json.loads(ready.read_text())["address"])
                break
            if loop.time() > deadline:
                raise RuntimeError(f"the FIX gateway did not serve in {GATEWAY_DEADLINE_S:.0f}s")
            await asyncio.sleep(0.05)  # polls the ready file; bounded by the deadline
        yield int(address.rsplit(":", 1)[1])
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_DEADLINE_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def _fix_load(
    port: int, token: str, spec: InstrumentSpec, orders: int, window: int, data: Path
) -> dict[str, Any]:
    """The FIX half, in a thread of its own (QuickFIX calls back from its threads)."""
    import quickfix as fix

    directory = data / "initiator"
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "initiator.cfg"
    config.write_text(_initiator_settings(directory, port))
    settings = fix.SessionSettings(str(config))
    app = _initiator(token, window)
    initiator = fix.SocketInitiator(
        app, fix.MemoryStoreFactory(), settings, fix.FileLogFactory(settings)
    )
    initiator.start()
    try:
        if not app.logged_on.wait(LOGON_DEADLINE_S):
            raise RuntimeError(f"the FIX session did not log on in {LOGON_DEADLINE_S:.0f}s")
        app.send(spec, "warmup", 0)
        app.wait_for({"warmup"}, RUN_DEADLINE_S)
        ids = [f"fix-{i}" for i in range(orders)]
        started = time.perf_counter()
        for index, clordid in enumerate(ids):
            app.send(spec, clordid, index)
        app.wait_for(set(ids), RUN_DEADLINE_S)
        seconds = time.perf_counter() - started
        app.send(spec, "marker", 0)  # reports of one account arrive in order: a barrier
        app.wait_for({"marker"}, RUN_DEADLINE_S)
    finally:
        initiator.stop()
    return app.result(set(ids), seconds)


def _initiator_settings(directory: Path, port: int) -> str:
    from dome.fix.server import BEGIN_STRING, dictionary_path

    lines = [
        "[DEFAULT]",
        "ConnectionType=initiator",
        "ReconnectInterval=1",
        f"FileLogPath={directory / 'log'}",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "HeartBtInt=30",
        "ResetOnLogon=Y",
        "SocketNodelay=Y",
        "UseDataDictionary=Y",
        f"DataDictionary={dictionary_path()}",
        "SocketConnectHost=127.0.0.1",
        f"SocketConnectPort={port}",
        "",
        "[SESSION]",
        f"BeginString={BEGIN_STRING}",
        f"SenderCompID={FIX_ACCOUNT}",
        "TargetCompID=DOME",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class _Tally:
    """What the session's ExecutionReports said, per ClOrdID (under ``lock``)."""

    sent_at: dict[str, int] = field(default_factory=dict)
    acks: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    unknown: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)


def _initiator(token: str, window: int) -> _Initiator:
    """The FIX client as a QuickFIX application (its base class needs the binding, which
    this module imports only when the bench runs)."""
    import quickfix as fix

    class Application(_Initiator, fix.Application):  # type: ignore[misc]
        pass

    return Application(token, window)


class _Initiator:
    """The FIX client: logs on with the account's token, counts acknowledgements."""

    def __init__(self, token: str, window: int) -> None:
        super().__init__()  # QuickFIX's Application, next in the subclass's order
        self.token = token
        self.logged_on = threading.Event()
        self.session: Any = None
        self.tally = _Tally()
        self.window = threading.Semaphore(window)

    # QuickFIX's callbacks (its threads).
    def onCreate(self, session: Any) -> None:  # QuickFIX names its callbacks so
        self.session = session

    def onLogon(self, session: Any) -> None:
        self.logged_on.set()

    def onLogout(self, session: Any) -> None:
        self.logged_on.clear()

    def toAdmin(self, message: Any, session: Any) -> None:
        if message.getHeader().getField(35) == "A":
            message.setField(554, self.token)  # Password: the account's bearer token

    def fromAdmin(self, message: Any, session: Any) -> None:
        pass

    def toApp(self, message: Any, session: Any) -> None:
        pass

    def fromApp(self, message: Any, session: Any) -> None:
        if message.getHeader().getField(35) != "8":
            return
        received = time.perf_counter_ns()
        clordid, exec_type = message.getField(11), message.getField(150)
        tally = self.tally
        with tally.lock:
            if clordid not in tally.sent_at:
                tally.unknown += 1
            elif exec_type == "0":
                tally.acks[clordid] += 1
                if tally.acks[clordid] == 1:
                    tally.latencies[clordid] = received - tally.sent_at[clordid]
                    self.window.release()
            elif exec_type == "8":
                tally.rejected[clordid] = message.getField(58) if message.isSetField(58) else ""
                self.window.release()
            tally.lock.notify_all()

    # The bench's side.
    def send(self, spec: InstrumentSpec, clordid: str, index: int) -> None:
        """One NewOrderSingle, once fewer than ``window`` are unanswered."""
        import quickfix as fix

        side, price = _price(spec, index)
        self.window.acquire()
        message = fix.Message()
        message.getHeader().setField(35, "D")
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]
        for tag, value in (
            (11, clordid), (55, spec.symbol), (54, "1" if side == "buy" else "2"),
            (60, stamp), (38, str(spec.min_qty)), (40, "2"), (44, str(price)), (59, "0"),
        ):  # fmt: skip
            message.setField(tag, value)
        with self.tally.lock:
            self.tally.sent_at[clordid] = time.perf_counter_ns()
        if not fix.Session.sendToTarget(message, self.session):
            raise RuntimeError("QuickFIX did not send a NewOrderSingle: the session is down")

    def wait_for(self, ids: set[str], timeout: float) -> None:
        """Until every id in ``ids`` is acknowledged or rejected; RuntimeError after."""
        tally = self.tally
        deadline = time.monotonic() + timeout

        def answered() -> bool:
            return all(i in tally.acks or i in tally.rejected for i in ids)

        with tally.lock:
            while not answered():
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = len([i for i in ids if i not in tally.acks])
                    raise RuntimeError(f"{missing} FIX orders unanswered after {timeout:.0f}s")
                tally.lock.wait(min(left, 1.0))

    def result(self, ids: set[str], seconds: float) -> dict[str, Any]:
        tally = self.tally
        with tally.lock:
            acked = [i for i in ids if tally.acks[i] >= 1]
            return {
                **summary([tally.latencies[i] for i in acked], seconds, len(acked)),
                "sent": len(ids),
                "acknowledged": len(acked),
                "duplicate_acks": sum(tally.acks[i] - 1 for i in acked),
                "rejected": len([i for i in ids if i in tally.rejected]),
                "unknown_reports": tally.unknown,
                "reject_texts": sorted(set(tally.rejected.values()))[:5],
            }
