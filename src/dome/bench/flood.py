"""Fairness under a flood: how much one account's flood raises another account's latency.

The question (issue 10, item 9): can one account flooding orders make the exchange slow
for everyone else? One engine runs as ``dome up`` runs it, with its default per-account
rate limit (``--rate-limit``, 50,000 commands/s) in force, since that limit is the
exchange's defence here. Account ``flood`` sends closed-loop ``SubmitOrders`` batches
from its own process (``dome.bench.load``, two streams, both sides) as fast as the engine
answers. Account ``quiet`` sends single ``SubmitOrder`` calls at a modest open-loop rate
from this process and times each one, from when it was due to its answer.

Each phase also reports ``in_engine``: quiet's calls as the engine itself timed them
(``dome_order_latency_seconds``, from the handler's start to its answer, read from the
engine's metrics page before and after the phase). Quiet's own latency minus that is the
time its call spent reaching the handler: transport and the engine's event loop.

The run has two phases on the same engine: ``quiet`` alone, then ``quiet`` during the
flood. Both phases use the same symbol, so ``quiet``'s orders queue where the flood's do.
The figure is ``p99_ratio`` = quiet's p99 with the flood / without it; the bound the
issue sets is 2. Also reported: what the flood got (orders/s answered, and how often
the rate limit ended its stream with RESOURCE_EXHAUSTED) and quiet's rejects, which must
be none. A flooder that is refused comes straight back on a new stream (``flood_main``,
its own process, pre-built batches as ``dome.bench.load`` builds them), as a hostile or
buggy client would: a flood that stopped at the first refusal would measure nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc

from dome.accounts import new_token, write_accounts
from dome.bench.engine import (
    READY_DEADLINE_S,
    REPORT_DEADLINE_S,
    _cpu_seconds,
    _read_line,
    bench_instruments,
)
from dome.files import write_json
from dome.instrument_spec import format_decimal
from dome.local.supervisor import start_engine
from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc

FLOOD, QUIET = "flood", "quiet"
#: Quiet's orders rest far below the flood's prices (mid 10,000 ticks +- 50): never filled,
#: so its latency is admission, sequencing and the answer, not its fills.
_QUIET_PRICE_TICKS = 5_000
_CALL_TIMEOUT_S = 10.0
#: End of a stream's answers (grpc-stubs do not declare it).
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]


def run_flood_bench(
    *,
    duration: float = 10.0,
    quiet_rate: float = 100.0,
    batch: int = 100,
    rate_limit: float | None = None,
    fsync: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run both phases; returns ``{"quiet_alone": {...}, "quiet_under_flood": {...}, ...}``."""
    if (
        duration <= 0
        or quiet_rate <= 0
        or batch < 1
        or (rate_limit is not None and rate_limit <= 0)
    ):
        raise ValueError("duration, quiet rate, batch and rate limit must be positive")
    return asyncio.run(_run(duration, quiet_rate, batch, rate_limit, fsync, progress))


async def _run(
    duration: float,
    quiet_rate: float,
    batch: int,
    rate_limit: float | None,
    fsync: str | None,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    (spec,) = bench_instruments(1)
    tokens = {FLOOD: new_token(), QUIET: new_token()}
    with tempfile.TemporaryDirectory(prefix="dome-bench-flood-") as tmp:
        data = Path(tmp)
        write_json(data / "instruments.json", [spec.to_dict()])
        write_accounts(data / "accounts.json", tokens)
        limit: tuple[str, ...] = ("--rate-limit", f"{rate_limit:g}") if rate_limit else ()
        limit += ("--fsync", fsync) if fsync else ()
        engine = await start_engine(
            "bench-engine",
            instruments=data / "instruments.json",
            accounts=data / "accounts.json",
            data_dir=data,
            extra_args=(*limit, "--log-level", "warning"),
        )
        target, pid = str(engine.info["address"]), int(engine.info["pid"])
        loader: asyncio.subprocess.Process | None = None
        try:
            async with grpc.aio.insecure_channel(target) as channel:
                stub = tr_grpc.TradingServiceStub(channel)
                quiet = _Quiet(stub, tokens[QUIET], spec.to_dict())
                await quiet.warm_up()
                metrics_url = str(engine.info["metrics"])
                progress(f"engine at {target}: phase 1, {QUIET} alone at {quiet_rate:g}/s")
                seen = await _engine_latency(metrics_url)
                alone = await quiet.run(quiet_rate, duration)
                alone["in_engine"] = _in_engine(seen, await _engine_latency(metrics_url))
                config = _flood_config(target, spec.to_dict(), tokens, batch, duration + 2.0)
                loader = await _spawn_flood(config)
                await _read_line(loader, READY_DEADLINE_S)
                progress(f"phase 2: {QUIET} at {quiet_rate:g}/s while {FLOOD} floods")
                assert loader.stdin is not None
                cpu_before = _cpu_seconds(pid)
                loader.stdin.write(b"go\n")
                await loader.stdin.drain()
                # The flood runs 1 s longer on each side, so quiet never sees it ramp.
                await asyncio.sleep(1.0)
                seen = await _engine_latency(metrics_url)
                flooded = await quiet.run(quiet_rate, duration)
                flooded["in_engine"] = _in_engine(seen, await _engine_latency(metrics_url))
                flood = await _read_line(loader, duration + REPORT_DEADLINE_S)
                cpu = _cpu_seconds(pid) - cpu_before
        finally:
            if loader is not None:
                with contextlib.suppress(ProcessLookupError):
                    loader.kill()
                await loader.wait()
            await engine.stop()
    ratio = (
        round(flooded["p99_ms"] / alone["p99_ms"], 2)
        if alone["p99_ms"] and flooded["p99_ms"] is not None
        else None
    )
    elapsed = duration + 2.0
    return {
        "bench": "flood",
        "duration_s": duration,
        "rate_limit_per_account": rate_limit or 50_000.0,
        "fsync": fsync or "engine default",
        "quiet_alone": alone,
        "quiet_under_flood": flooded,
        "p99_ratio": ratio,
        "p50_ratio": (
            round(flooded["p50_ms"] / alone["p50_ms"], 2)
            if alone["p50_ms"] and flooded["p50_ms"] is not None
            else None
        ),
        "flood": {
            "answered_per_sec": round(flood["answered"] / elapsed),
            # Streams the engine ended with RESOURCE_EXHAUSTED (over the rate limit).
            "refusals": flood["refusals"],
            "other_errors": flood["other_errors"],
            "engine_cpu_s": round(cpu, 2),
        },
        "within_2x": ratio is not None and ratio <= 2.0,
    }


#: The engine's own timing of quiet's calls: only quiet calls ``SubmitOrder``.
_QUIET_METHOD = "SubmitOrder"


async def _engine_latency(metrics_url: str) -> dict[float, float]:
    """Cumulative counts of the engine's ``dome_order_latency_seconds`` buckets (upper
    bound in seconds -> calls) for quiet's method, read from its metrics page."""
    from prometheus_client.parser import text_string_to_metric_families

    def scrape() -> str:
        with urllib.request.urlopen(metrics_url, timeout=_CALL_TIMEOUT_S) as answer:
            return str(answer.read().decode())

    text = await asyncio.to_thread(scrape)
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "dome_order_latency_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.labels["method"] == _QUIET_METHOD:
                buckets[float(sample.labels["le"])] = sample.value
    return buckets


def _in_engine(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """Quiet's calls between two scrapes as the engine timed them (receipt to answer):
    the bucket bounds its p50 and p99 fall under, and the share answered within 10 ms.

    Set beside quiet's own figures, this says whether its wait was inside the engine's
    handling or before it (transport, the event loop reaching the call, the client).
    """
    counts = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    total = counts[-1][1] if counts else 0.0
    if not total:
        return {"calls": 0, "p50_le_ms": None, "p99_le_ms": None, "within_10ms": None}

    def bound(q: float) -> float | None:
        le = next(le for le, n in counts if n >= q * total)
        return None if math.isinf(le) else round(le * 1000, 3)

    within = next((n for le, n in counts if le >= 0.01), total)
    return {
        "calls": int(total),
        "p50_le_ms": bound(0.5),
        "p99_le_ms": bound(0.99),
        "within_10ms": round(within / total, 4),
    }


def _flood_config(
    target: str, spec: dict[str, Any], tokens: dict[str, str], batch: int, duration: float
) -> dict[str, Any]:
    """The flood process's settings: both sides as the one flooding account, closed loop."""
    return {
        "name": FLOOD,
        "target": target,
        "duration": duration,
        "rate": None,
        "batch": batch,
        "window": 2,
        "seed": 7,
        "symbols": [spec],
        "streams": [{"account": FLOOD, "token": tokens[FLOOD], "side": side} for side in (1, 2)],
    }


async def _spawn_flood(config: dict[str, Any]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dome.bench.flood",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(config).encode() + b"\n")
    await proc.stdin.drain()
    return proc


async def flood_main() -> int:
    """The flooding process: the load module's protocol (config line, ready, go, result)."""
    from dome.bench.load import CLOSED_LOOP_CEILING, build, make_streams

    config = json.loads(sys.stdin.readline())
    streams, _ = make_streams(config)
    per_stream = CLOSED_LOOP_CEILING / len(streams)
    for index, stream in enumerate(streams):
        build(config, stream, index, math.ceil(per_stream * config["duration"] / config["batch"]))
    async with grpc.aio.insecure_channel(config["target"]) as channel:
        await channel.channel_ready()
        print(json.dumps({"ready": True}), flush=True)
        loop = asyncio.get_running_loop()
        if (await loop.run_in_executor(None, sys.stdin.readline)).strip() != "go":
            return 1
        end = time.perf_counter() + config["duration"]
        counts = await asyncio.gather(*(_flood(channel, s, config, end) for s in streams))
    print(
        json.dumps(
            {
                "answered": sum(c[0] for c in counts) * config["batch"],
                "refusals": sum(c[1] for c in counts),
                "other_errors": sum(c[2] for c in counts),
            }
        ),
        flush=True,
    )
    return 0


async def _flood(
    channel: grpc.aio.Channel, stream: Any, config: dict[str, Any], end: float
) -> tuple[int, int, int]:
    """Batches answered, refusals and other errors of one flooding stream until ``end``."""
    method = channel.stream_stream("/dome.v1.TradingService/SubmitOrders", None, None)
    metadata = (("authorization", f"Bearer {stream.token}"),)
    batches = iter(stream.batches)
    answered = refusals = errors = 0
    while time.perf_counter() < end:
        call = method(None, metadata=metadata)
        window = asyncio.Semaphore(config["window"])

        async def write(call: Any = call, window: asyncio.Semaphore = window) -> None:
            for raw in batches:
                await window.acquire()
                if time.perf_counter() >= end:
                    break
                await call.write(raw)
            await call.done_writing()

        async def read(call: Any = call, window: asyncio.Semaphore = window) -> None:
            nonlocal answered
            while await call.read() is not _EOF:
                answered += 1
                window.release()

        tasks = [asyncio.create_task(write()), asyncio.create_task(read())]
        try:
            await asyncio.gather(*tasks)
            break
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            # A write can find the call already ended by the engine: ask it how.
            if await call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                refusals += 1
            else:
                errors += 1
                await asyncio.sleep(0.01)
        finally:
            for task in tasks:
                task.cancel()
            call.cancel()
    return answered, refusals, errors


class _Quiet:
    """The modest account: one SubmitOrder at a time, on a schedule, each one timed."""

    def __init__(
        self, stub: tr_grpc.TradingServiceAsyncStub, token: str, spec: dict[str, Any]
    ) -> None:
        self._stub = stub
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._symbol = spec["symbol"]
        self._price = format_decimal(_QUIET_PRICE_TICKS * Decimal(spec["tick_size"]))
        self._qty = format_decimal(Decimal(spec["min_qty"]))
        self._sent = 0

    async def warm_up(self) -> None:
        for _ in range(20):
            await self._submit()

    async def _submit(self) -> int:
        self._sent += 1
        request = tr.SubmitOrderRequest(
            symbol=self._symbol,
            side=pb.SIDE_BUY,
            type=pb.ORDER_TYPE_LIMIT,
            price=self._price,
            qty=self._qty,
            client_order_id=f"quiet-{self._sent}",
        )
        result = await self._stub.SubmitOrder(
            request, metadata=self._metadata, timeout=_CALL_TIMEOUT_S
        )
        return int(result.status)

    async def run(self, rate: float, duration: float) -> dict[str, Any]:
        """Orders at ``rate``/s for ``duration`` s, open loop: latency counts from when
        each was due, so a stall shows in every order it delays."""
        interval = 1.0 / rate
        count = int(rate * duration)
        start = time.perf_counter()
        latencies: list[float] = []
        rejected = 0

        async def one(due: float) -> None:
            nonlocal rejected
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if await self._submit() == pb.ORDER_STATUS_REJECTED:
                rejected += 1
            latencies.append(time.perf_counter() - due)

        await asyncio.gather(*(one(start + k * interval) for k in range(count)))
        latencies.sort()
        return {
            "orders": count,
            "rejected": rejected,
            "p50_ms": _quantile_ms(latencies, 0.50),
            "p99_ms": _quantile_ms(latencies, 0.99),
            "max_ms": round(latencies[-1] * 1000, 3) if latencies else None,
        }


def _quantile_ms(ordered: list[float], q: float) -> float | None:
    """The ``q`` quantile of sorted seconds, in ms (nearest rank).

    >>> _quantile_ms([0.001, 0.002, 0.003, 0.004], 0.5)
    2.0
    """
    if not ordered:
        return None
    rank = max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))
    return round(ordered[rank] * 1000, 3)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(flood_main()))
