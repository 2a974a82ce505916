"""Engine throughput: orders/s one engine process acknowledges, and whether it kept them all.

The question is what the next step (replication, DESIGN.md section 3) can build on: how
many orders per second one engine sequences, matches and answers over ``SubmitOrders``,
at what latency. So the engine runs as it does under ``dome up`` (its own process, the
same command line, rate limit lifted), and the load comes from separate processes
(``dome.bench.load``) that send pre-encoded batches over raw streams, so that what is
measured is the engine and not a Python client.

Open loop (``rate``) sends on a schedule and counts latency from when each batch was due;
closed loop keeps a few batches in flight per stream and measures the ceiling. Latency is
per batch (submit to answer), counted once for each order in it.

A fast answer that lost orders would be worthless, so every run is verified against the
engine's own books afterwards (``verify``): per symbol, the answers carry every sequence
number from 1 to the book's last exactly once, and every acknowledged lot is either open
on the book (``ListOpenOrders`` of every account, and ``GetBook``'s levels, which must
agree) or was filled, where each fill has exactly one taker whose answer reported it:
``acked lots == 2 x taker fills + open lots``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc

from dome.accounts import write_accounts
from dome.files import write_json
from dome.instrument_spec import DEFAULT_INSTRUMENTS, InstrumentSpec
from dome.local.supervisor import start_engine
from dome.v1 import market_data_pb2 as md
from dome.v1 import market_data_pb2_grpc as md_grpc
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc

#: How long load processes may take to build their batches and connect.
READY_DEADLINE_S = 120.0
#: How long after the run's end a load process may take to drain, tally and report.
REPORT_DEADLINE_S = 120.0
#: Batches in flight per stream in a closed-loop run.
DEFAULT_WINDOW = 2
#: Result lines carry every batch's latency: far more than asyncio's 64 KiB line default.
_LINE_LIMIT = 1 << 28
_SIDES = (("buy", 1), ("sell", 2))


@dataclass(frozen=True)
class BookTotals:
    """What the engine says about one symbol after the run, in lots."""

    seq: int
    book_lots: int
    open_lots: int


def bench_instruments(count: int) -> list[InstrumentSpec]:
    """``count`` symbols: the built-in four, then copies of them under numbered names."""
    specs = []
    for i in range(count):
        base = DEFAULT_INSTRUMENTS[i % len(DEFAULT_INSTRUMENTS)]
        name = base.symbol if i < len(DEFAULT_INSTRUMENTS) else f"{base.symbol}-{i}"
        specs.append(InstrumentSpec.from_dict({**base.to_dict(), "symbol": name}))
    return specs


def run_engine_bench(
    *,
    symbols: int = 4,
    duration: float = 5.0,
    rate: float | None = None,
    batch: int = 100,
    clients: int = 2,
    window: int = DEFAULT_WINDOW,
    seed: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run one engine under load and return ``{"orders_per_sec", ..., "verified"}``."""
    if symbols < 1 or duration <= 0 or batch < 1 or clients < 1 or window < 1:
        raise ValueError("symbols, duration, batch, clients and window must be positive")
    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive")
    settings = {
        "duration": duration,
        "rate": rate,
        "batch": batch,
        "window": window,
        "seed": seed,
    }
    return asyncio.run(_run(bench_instruments(symbols), clients, settings, progress))


async def _run(
    specs: list[InstrumentSpec],
    clients: int,
    settings: dict[str, Any],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dome-bench-") as tmp:
        data = Path(tmp)
        write_json(data / "instruments.json", [s.to_dict() for s in specs])
        tokens = {
            f"load-{k}-{side}": secrets.token_hex(16)
            for k in range(1, clients + 1)
            for side, _ in _SIDES
        }
        write_accounts(data / "accounts.json", tokens)
        engine = await start_engine(
            "bench-engine",
            instruments=data / "instruments.json",
            accounts=data / "accounts.json",
            data_dir=data,
            # The per-account limit protects a shared exchange; here it would cap the load.
            extra_args=("--rate-limit", "1e12", "--log-level", "warning"),
        )
        target, pid = str(engine.info["address"]), int(engine.info["pid"])
        progress(f"engine at {target} (pid {pid}); {clients} load process(es) building batches")
        loaders: list[asyncio.subprocess.Process] = []
        try:
            for k in range(1, clients + 1):
                config = _load_config(k, clients, target, specs, tokens, settings)
                loaders.append(await _spawn_loader(config))
            for proc in loaders:
                await _read_line(proc, READY_DEADLINE_S)
            mode = (
                f"open loop at {settings['rate']:g} orders/s" if settings["rate"] else "closed loop"
            )
            progress(f"running {settings['duration']:g}s, {mode}, batches of {settings['batch']}")
            cpu_before = _cpu_seconds(pid)
            for proc in loaders:
                assert proc.stdin is not None
                proc.stdin.write(b"go\n")
                await proc.stdin.drain()
            deadline = settings["duration"] + REPORT_DEADLINE_S
            loads = [await _read_line(proc, deadline) for proc in loaders]
            cpu = _cpu_seconds(pid) - cpu_before
            books = await _book_states(target, specs, tokens)
        finally:
            for proc in loaders:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            await engine.stop()
    result, problems = summarize(loads, books)
    answered = result["acked"] + result["rejected"]
    if answered and cpu >= 0:
        result["engine_cpu_us_per_order"] = round(cpu / answered * 1e6, 2)
        progress(
            f"engine CPU {cpu:.2f}s for {answered} orders: {cpu / answered * 1e6:.1f} us/order"
        )
    if any(load["exhausted"] for load in loads):
        progress("note: the load ran out of pre-built batches before the end of the run")
    for problem in problems:
        progress(f"verification failed: {problem}")
    if not problems:
        progress("verified: every acknowledged order is on the book or filled")
    return result


def _load_config(
    k: int,
    clients: int,
    target: str,
    specs: list[InstrumentSpec],
    tokens: dict[str, str],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """What load process ``k`` is told: its share of the rate, the symbols, its streams."""
    streams = [
        {"account": f"load-{k}-{side}", "token": tokens[f"load-{k}-{side}"], "side": code}
        for side, code in _SIDES
    ]
    return {
        **settings,
        "name": f"load-{k}",
        "target": target,
        "rate": settings["rate"] / clients if settings["rate"] else None,
        "symbols": [s.to_dict() for s in specs],
        "streams": streams,
    }


async def _spawn_loader(config: dict[str, Any]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dome.bench.load",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=_LINE_LIMIT,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(config).encode() + b"\n")
    await proc.stdin.drain()
    return proc


async def _read_line(proc: asyncio.subprocess.Process, deadline: float) -> dict[str, Any]:
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), deadline)
    except TimeoutError:
        raise RuntimeError(f"a load process said nothing for {deadline:.0f}s") from None
    if not line:
        raise RuntimeError(f"a load process exited with {await proc.wait()} (see stderr)")
    value: dict[str, Any] = json.loads(line)
    return value


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` (Linux ``/proc``); -1 where that is not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return -1.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _book_states(
    target: str, specs: list[InstrumentSpec], tokens: dict[str, str]
) -> dict[str, BookTotals]:
    options = [("grpc.max_receive_message_length", 256 * 1024 * 1024)]
    states = {}
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        market = md_grpc.MarketDataServiceStub(channel)
        trading = tr_grpc.TradingServiceStub(channel)
        for spec in specs:
            snap = await market.GetBook(md.GetBookRequest(symbol=spec.symbol, depth=1_000))
            book = sum(Decimal(lv.qty) for lv in (*snap.bids, *snap.asks))
            open_qty = Decimal(0)
            for token in tokens.values():
                orders = await trading.ListOpenOrders(
                    tr.ListOpenOrdersRequest(symbol=spec.symbol),
                    metadata=(("authorization", f"Bearer {token}"),),
                )
                open_qty += sum(Decimal(o.remaining_qty) for o in orders.orders)
            states[spec.symbol] = BookTotals(
                snap.seq, int(book / spec.lot_size), int(open_qty / spec.lot_size)
            )
    return states


def summarize(
    loads: list[dict[str, Any]], books: dict[str, BookTotals]
) -> tuple[dict[str, Any], list[str]]:
    """The benchmark's JSON result, and what (if anything) failed verification."""
    problems = []
    errors = sum(load["errors"] for load in loads)
    mismatches = sum(load["mismatches"] for load in loads)
    if errors:
        problems.append(f"{errors} stream(s) failed")
    if mismatches:
        problems.append(f"{mismatches} answers did not match the orders sent")
    for symbol, book in books.items():
        tallies = [load["per_symbol"][symbol] for load in loads]
        count = sum(t["count"] for t in tallies)
        seq_sum = sum(t["seq_sum"] for t in tallies)
        acked = sum(t["acked_lots"] for t in tallies)
        taker = sum(t["taker_lots"] for t in tallies)
        if count != book.seq or seq_sum != book.seq * (book.seq + 1) // 2:
            problems.append(f"{symbol}: {count} answers for sequence numbers 1..{book.seq}")
        if book.book_lots != book.open_lots:
            problems.append(
                f"{symbol}: book levels hold {book.book_lots} lots, orders {book.open_lots}"
            )
        if acked != 2 * taker + book.open_lots:
            problems.append(
                f"{symbol}: {acked} lots acknowledged, but {taker} filled (twice) "
                f"+ {book.open_lots} open = {2 * taker + book.open_lots}"
            )
    acked = sum(load["acked"] for load in loads)
    rejected = sum(load["rejected"] for load in loads)
    if acked == 0:
        problems.append("no order was acknowledged")
    elapsed = max((load["elapsed"] for load in loads), default=0.0)
    latencies = sorted((seconds, n) for load in loads for seconds, n in load["latencies"])
    result = {
        "orders_per_sec": round((acked + rejected) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "acked": acked,
        "rejected": rejected,
        "errors": errors,
        "verified": not problems,
    }
    return result, problems


def _percentile(weighted: list[tuple[float, int]], q: float) -> float | None:
    """The ``q`` quantile in ms of sorted (seconds, weight) pairs; None when empty."""
    total = sum(n for _, n in weighted)
    if not total:
        return None
    rank = q * total
    seen = 0
    for seconds, n in weighted:
        seen += n
        if seen >= rank:
            return round(seconds * 1000, 3)
    return round(weighted[-1][0] * 1000, 3)
