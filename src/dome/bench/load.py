"""The load side of ``dome bench engine``: one process driving an engine over raw streams.

It runs in a process of its own so the engine's measured CPU is the engine's alone, and
it does as little as it can while the clock runs: every ``OrderBatch`` is generated and
serialized before the start, sent as bytes through a ``SubmitOrders`` method without
(de)serializers, and the answers are kept as bytes, matched to their send times by
order (a stream answers its batches in order). Only after the run does it parse them and
add up what the coordinator needs to verify the engine's books.

Each stream is one account trading one side only (a buyer and a seller per process):
flow from one process then never meets itself, so self-trade prevention never cancels a
resting order, and quantities are conserved: every acknowledged lot is either on the
book or filled, and every fill has one taker, the order whose answer reports it.

A cluster run (``dome.bench.cluster``) gives ``routes``: each a target engine and the
symbols it leads, so each symbol's flow goes straight to its primary (a buyer and a
seller stream per route); with ``record`` the result also lists every acknowledged
order (sequence number, order id, client order id) per symbol, for checking replicas.

Protocol with the coordinator (``dome.bench.engine``): one JSON config line on stdin;
``{"ready": true}`` on stdout once the batches are built and the streams open; a line
``go`` on stdin starts the clock; one JSON result line on stdout at the end.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import grpc

from dome.instrument_spec import format_decimal
from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr

_METHOD = "/dome.v1.TradingService/SubmitOrders"
#: Prices are drawn from mid +- this many ticks on both sides: flow that crosses a lot.
PRICE_SPREAD_TICKS = 50
#: The mid price, in ticks.
MID_TICKS = 10_000
#: Quantities are 1..this many lots.
MAX_LOTS = 10
#: A closed-loop run never sends more than this many orders/s per process (batches for
#: that much are built up front; a run that uses them all up ends early, and says so).
CLOSED_LOOP_CEILING = 120_000
_REJECTED = pb.ORDER_STATUS_REJECTED
#: End of a stream's answers (grpc-stubs do not declare it).
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]


@dataclass
class Stream:
    """One SubmitOrders stream: an account, the side it trades and its batches."""

    account: str
    token: str
    side: int
    #: Engine the stream goes to.
    target: str = ""
    #: Indices (into the config's symbols) this stream trades.
    symbols: list[int] = field(default_factory=list)
    batches: list[bytes] = field(default_factory=list)
    #: Per batch, per action: (symbol index, lots).
    plans: list[list[tuple[int, int]]] = field(default_factory=list)
    answers: list[bytes] = field(default_factory=list)
    #: Per answered batch: submit-to-answer seconds.
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    exhausted: bool = False


def build(config: dict[str, Any], stream: Stream, index: int, batches: int) -> None:
    """Generate and serialize ``batches`` batches of limit orders for ``stream``."""
    symbols = config["symbols"]
    rng = random.Random(f"{config['seed']}/{config['name']}/{index}")
    prices = [
        [
            format_decimal((MID_TICKS + off) * Decimal(s["tick_size"]))
            for off in range(-PRICE_SPREAD_TICKS, PRICE_SPREAD_TICKS + 1)
        ]
        for s in symbols
    ]
    qtys = [
        [format_decimal(n * Decimal(s["lot_size"])) for n in range(MAX_LOTS + 1)] for s in symbols
    ]
    names = [s["symbol"] for s in symbols]
    mine = stream.symbols or list(range(len(names)))
    size = config["batch"]
    prefix = f"{config['name']}.{index}."
    for b in range(batches):
        actions = []
        plan = []
        for i in range(size):
            sym = mine[rng.randrange(len(mine))]
            lots = rng.randint(1, MAX_LOTS)
            order = tr.SubmitOrderRequest(
                symbol=names[sym],
                side=pb.Side.ValueType(stream.side),
                type=pb.ORDER_TYPE_LIMIT,
                price=prices[sym][rng.randrange(2 * PRICE_SPREAD_TICKS + 1)],
                qty=qtys[sym][lots],
                client_order_id=f"{prefix}{b}.{i}",
            )
            actions.append(tr.OrderAction(submit=order))
            plan.append((sym, lots))
        stream.batches.append(tr.OrderBatch(batch_id=b, actions=actions).SerializeToString())
        stream.plans.append(plan)


async def drive(
    channel: grpc.aio.Channel, stream: Stream, start: float, config: dict[str, Any], rate: float
) -> float:
    """Send ``stream``'s batches from ``start`` for the run; returns the last answer's time.

    Open loop (``rate`` > 0): batch k goes at ``start + k * interval`` whether or not
    earlier ones are answered, and its latency counts from then (no coordinated omission).
    Closed loop: at most ``window`` batches in flight, the next sent as one is answered.
    """
    end = start + config["duration"]
    interval = config["batch"] / rate if rate > 0 else 0.0
    window = asyncio.Semaphore(config["window"] if rate <= 0 else 1 << 30)
    sent: deque[float] = deque()
    # No (de)serializers: batches go out as the bytes built before the run, answers stay bytes.
    method = channel.stream_stream(_METHOD, None, None)
    call = method(None, metadata=(("authorization", f"Bearer {stream.token}"),))
    last = start

    async def write() -> None:
        for k, raw in enumerate(stream.batches):
            await window.acquire()
            due = start + k * interval if interval else time.perf_counter()
            if due >= end:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent.append(due)
            await call.write(raw)
        else:
            stream.exhausted = True
        await call.done_writing()

    async def read() -> None:
        nonlocal last
        while (msg := await call.read()) is not _EOF:
            last = time.perf_counter()
            stream.latencies.append(last - sent.popleft())
            assert isinstance(msg, bytes)
            stream.answers.append(msg)
            window.release()

    tasks: list[asyncio.Task[None]] = []
    try:
        await call.initial_metadata()
        tasks = [asyncio.create_task(write()), asyncio.create_task(read())]
        await asyncio.gather(*tasks)
    except grpc.aio.AioRpcError as exc:
        stream.errors += 1
        name, account = config["name"], stream.account
        print(f"{name}: {account}: {exc.code().name}: {exc.details()}", file=sys.stderr)
    finally:
        # A failed stream must not leave the other half waiting for ever.
        for task in tasks:
            task.cancel()
        call.cancel()
    return last


def tally(config: dict[str, Any], streams: list[Stream]) -> dict[str, Any]:
    """Parse the answers after the run: counts, lots and sequence numbers per symbol."""
    symbols = config["symbols"]
    names = [s["symbol"] for s in symbols]
    lot_sizes = [Decimal(s["lot_size"]) for s in symbols]
    per = [{"count": 0, "seq_sum": 0, "acked_lots": 0, "taker_lots": 0} for _ in symbols]
    acked = rejected = mismatches = 0
    lots_of: dict[tuple[int, str], int] = {}
    record = bool(config.get("record"))
    orders: list[list[list[Any]]] = [[] for _ in symbols]
    for index, stream in enumerate(streams):
        prefix = f"{config['name']}.{index}."
        for b, raw in enumerate(stream.answers):
            answer = tr.OrderBatchResult.FromString(raw)
            plan = stream.plans[b]
            if answer.batch_id != b or len(answer.results) != len(plan):
                mismatches += 1
                continue
            for i, (result, (sym, lots)) in enumerate(zip(answer.results, plan, strict=True)):
                if result.symbol != names[sym] or result.client_order_id != f"{prefix}{b}.{i}":
                    mismatches += 1
                    continue
                tally_ = per[sym]
                if result.seq:
                    tally_["count"] += 1
                    tally_["seq_sum"] += result.seq
                if result.status == _REJECTED:
                    rejected += 1
                    continue
                acked += 1
                if record:
                    orders[sym].append([result.seq, result.order_id, result.client_order_id])
                tally_["acked_lots"] += lots
                key = (sym, result.filled_qty)
                filled = lots_of.get(key)
                if filled is None:
                    filled = lots_of[key] = int(Decimal(result.filled_qty) / lot_sizes[sym])
                tally_["taker_lots"] += filled
    latencies = [[s, config["batch"]] for stream in streams for s in stream.latencies]
    extra = {"orders": dict(zip(names, orders, strict=True))} if record else {}
    return {
        **extra,
        "acked": acked,
        "rejected": rejected,
        "mismatches": mismatches,
        "errors": sum(s.errors for s in streams),
        "exhausted": any(s.exhausted for s in streams),
        "latencies": latencies,
        "per_symbol": dict(zip(names, per, strict=True)),
    }


def make_streams(config: dict[str, Any]) -> tuple[list[Stream], list[float]]:
    """The streams of ``config`` and each one's share of the rate (orders/s, 0: closed)."""
    everything = list(range(len(config["symbols"])))
    routes = config.get("routes") or [{"target": config["target"], "symbols": everything}]
    rate = float(config["rate"] or 0)
    streams, rates = [], []
    for route in routes:
        share = len(route["symbols"]) / len(everything)
        for s in config["streams"]:
            streams.append(Stream(s["account"], s["token"], s["side"], route["target"],
                                  list(route["symbols"])))  # fmt: skip
            rates.append(rate * share / len(config["streams"]))
    return streams, rates


async def main() -> int:
    """Build, wait for ``go``, run, tally, report (the protocol in the module docstring)."""
    config = json.loads(sys.stdin.readline())
    streams, rates = make_streams(config)
    for index, (stream, rate) in enumerate(zip(streams, rates, strict=True)):
        per_stream = rate or CLOSED_LOOP_CEILING / len(streams)
        batches = math.ceil(per_stream * config["duration"] / config["batch"]) + 1
        build(config, stream, index, batches)
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    channels = {
        target: grpc.aio.insecure_channel(target, options=options)
        for target in {s.target for s in streams}
    }
    try:
        for channel in channels.values():
            await channel.channel_ready()
        print(json.dumps({"ready": True}), flush=True)
        loop = asyncio.get_running_loop()
        if (await loop.run_in_executor(None, sys.stdin.readline)).strip() != "go":
            return 1
        start = time.perf_counter()
        cpu_start = time.process_time()
        ends = await asyncio.gather(
            *(
                drive(channels[s.target], s, start, config, rate)
                for s, rate in zip(streams, rates, strict=True)
            )
        )
    finally:
        for channel in channels.values():
            await channel.close(None)
    result = tally(config, streams)
    result["elapsed"] = max(ends) - start
    #: This process's CPU from "go" to the last answer (building batches before is not).
    result["cpu_s"] = time.process_time() - cpu_start
    print(
        f"{config['name']}: {result['acked']} acked, {result['rejected']} rejected, "
        f"{result['errors']} errors in {result['elapsed']:.2f}s",
        file=sys.stderr,
        flush=True,
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
