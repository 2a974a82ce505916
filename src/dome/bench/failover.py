"""Failover: how long a symbol is without a primary, and without acknowledgements, after kill -9.

The cluster runs as ``dome bench cluster`` runs it (``bench_cluster``: discovery and N
engine processes). A separate load process (``dome.bench.failover_load``) keeps a steady
flow of orders on every symbol, routing and retrying as the SDK does, and reports every
acknowledgement as it happens: when, and which engine answered.

Then, ``kills`` times, round-robin over the symbols: the symbol's primary is killed with
SIGKILL and two times are taken from that instant:

* ``promotion_ms``: until discovery's placement (``GetPlacement``, polled every
  ``POLL_S``) names another primary for the symbol: detection (the lease lapsing, plus
  its grace) and the election;
* ``takeover_ms``: until the load process gets the first acknowledgement of an order on
  the symbol from another engine: what a client sees, promotion included.

The load learns of the new primary from discovery's push (``WatchPlacement``), the
coordinator by polling, on a loaded machine: ``promotion_ms`` is therefore late by up
to a poll and an answer, and may read a little above ``takeover_ms``.

The killed engine is restarted on its data directory, and the next kill waits until it
is back in the in-sync set of every symbol it holds and orders flowed on every symbol.

At the end nothing acknowledged may be lost: every acknowledged client order id is
submitted again (through the SDK's ``Client``, a separate path from the load's) and must
come back as a ``duplicate`` of the order first acknowledged, with the same order id;
``duplicates`` counts those that did, ``lost`` those that did not. ``consistent`` is
``dome check``'s verdict once followers caught up: replicas at one sequence number, with
one state hash (``ReplicationService.GetReplicaStatus``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from dome.bench.cluster import CONVERGE_DEADLINE_S, BenchCluster, bench_cluster
from dome.bench.engine import bench_instruments
from dome.bench.failover_load import (
    LOAD_DEADLINE_S,
    RETRY_DEADLINE_S,
    SIDES,
    order_fields,
)
from dome.client.errors import DomeError
from dome.client.models import NewOrder
from dome.instrument_spec import InstrumentSpec
from dome.local.check import run_check
from dome.local.placement import placement_json
from dome.v1 import discovery_pb2 as dp
from dome.v1 import discovery_pb2_grpc as dp_grpc

#: How often placement is asked for while waiting for a promotion (and for a rejoin).
POLL_S = 0.01
#: How long a kill may go without a new primary, or without an acknowledgement.
FAILOVER_DEADLINE_S = 30.0
#: How long a restarted engine may take to be in sync again with every symbol it holds.
REJOIN_DEADLINE_S = 60.0
#: How long orders flow on every symbol before a kill.
FLOW_BEFORE_KILL_S = 0.5
#: Orders/s per symbol the load keeps up (default).
DEFAULT_RATE = 200.0
#: Resubmissions per SubmitOrders batch in the final check.
VERIFY_BATCH = 500
_RPC_TIMEOUT = 10.0


def run_failover_bench(
    *,
    engines: int = 3,
    symbols: int = 2,
    kills: int = 5,
    acks: str | None = None,
    rate: float = DEFAULT_RATE,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Kill primaries under load; ``{"kills", "promotion_ms", "takeover_ms", "lost", ...}``."""
    if engines < 2:
        raise ValueError("failover needs at least 2 engines")
    if symbols < 1 or kills < 1 or rate <= 0:
        raise ValueError("symbols, kills and rate must be positive")
    specs = bench_instruments(symbols)
    tokens = {f"failover-{side}": secrets.token_hex(16) for side in SIDES}
    return asyncio.run(_run(engines, specs, tokens, kills, acks, rate, progress))


# ---------------------------------------------------------------- the coordinator


@dataclass
class Flow:
    """What the coordinator knows of the load: every acknowledgement, as reported."""

    proc: asyncio.subprocess.Process
    #: Per symbol index: (monotonic time, answering engine address) of each ack, in order.
    acks: dict[int, list[tuple[float, str]]] = field(default_factory=dict)
    #: (symbol index, side, n, order id) of every acknowledged order.
    orders: list[tuple[int, str, int, int]] = field(default_factory=list)
    retried: int = 0
    recovered: int = 0
    done: dict[str, Any] | None = None

    async def read(self) -> None:
        """Take in the load's lines until it exits."""
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            if line.startswith(b"A "):
                _, sym, side, n, order_id, at, address, attempts, dup = line.decode().split()
                index = int(sym)
                self.acks.setdefault(index, []).append((float(at), address))
                self.orders.append((index, side, int(n), int(order_id)))
                self.retried += attempts != "1"
                self.recovered += dup == "1"
            elif line.startswith(b"{"):
                self.done = json.loads(line)

    def first_ack(self, index: int, after: float, not_from: str) -> float | None:
        """Time of the first ack on symbol ``index`` after ``after`` from another engine."""
        first = None
        for at, address in reversed(self.acks.get(index, [])):  # the latest are at the end
            if at <= after:
                break
            if address != not_from:
                first = at
        return first

    def acked_since(self, index: int, after: float) -> bool:
        acks = self.acks.get(index, [])
        return bool(acks) and acks[-1][0] > after

    async def wait_flowing(self, symbols: int, after: float) -> None:
        """Until every symbol had an ack after ``after``."""
        give_up = max(after, time.monotonic()) + FAILOVER_DEADLINE_S
        while not all(self.acked_since(i, after) for i in range(symbols)):
            if self.proc.returncode is not None:
                raise RuntimeError(f"the load process exited with {self.proc.returncode}")
            if time.monotonic() > give_up:
                raise RuntimeError(
                    f"orders did not flow on every symbol for {FAILOVER_DEADLINE_S:g}s"
                )
            await asyncio.sleep(POLL_S)


async def _run(
    engines: int,
    specs: list[InstrumentSpec],
    tokens: dict[str, str],
    kills: int,
    acks: str | None,
    rate: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    async with bench_cluster(
        engines, specs, tokens, acks=acks, fsync=None, progress=progress
    ) as bench:
        discovery = bench.cluster.discovery_address
        assert discovery is not None
        async with grpc.aio.insecure_channel(discovery) as channel:
            watch = Placement(channel)
            return await _measure(bench, watch, specs, tokens, kills, rate, progress)


class Placement:
    """Discovery's placement, asked for on one channel."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.stub: Any = dp_grpc.DiscoveryServiceStub(channel)

    async def get(self) -> dict[str, Any]:
        answer = await self.stub.GetPlacement(dp.GetPlacementRequest(), timeout=_RPC_TIMEOUT)
        return placement_json(answer)

    async def until(
        self, what: str, deadline: float, test: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Poll until ``test(placement)``; ``RuntimeError`` after ``deadline`` seconds."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + deadline
        while True:
            with contextlib.suppress(grpc.aio.AioRpcError):
                placement = await self.get()
                if test(placement):
                    return placement
            if loop.time() > give_up:
                raise RuntimeError(f"no {what} within {deadline:g}s")
            await asyncio.sleep(POLL_S)


def _all_in_sync(placement: dict[str, Any]) -> bool:
    return all(
        s["primary"] and set(s["in_sync"]) >= {s["primary"], *s["followers"]}
        for s in placement["symbols"].values()
    )


async def _measure(
    bench: BenchCluster,
    watch: Placement,
    specs: list[InstrumentSpec],
    tokens: dict[str, str],
    kills: int,
    rate: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    placement = await watch.until("placement with every replica in sync", REJOIN_DEADLINE_S,
                                  _all_in_sync)  # fmt: skip
    names = [s.symbol for s in specs]
    for name in names:
        s = placement["symbols"][name]
        progress(f"{name}: primary {s['primary']}, followers {', '.join(s['followers']) or '-'}")
    discovery = bench.cluster.discovery_address
    assert discovery is not None
    flow = await _start_load(discovery, specs, tokens, rate)
    reader = asyncio.create_task(flow.read())
    rounds: list[dict[str, Any]] = []
    try:
        progress(f"orders flowing at {rate:g}/s per symbol; {kills} kill(s) to go")
        ready_at = time.monotonic()
        for k in range(kills):
            rounds.append(await _kill_one(bench, watch, flow, names, k, ready_at, progress))
            ready_at = time.monotonic()
        await flow.wait_flowing(len(names), ready_at + FLOW_BEFORE_KILL_S)
        # Stop: no new orders; those in flight are retried until acknowledged.
        assert flow.proc.stdin is not None
        flow.proc.stdin.write(b"stop\n")
        await flow.proc.stdin.drain()
        await asyncio.wait_for(asyncio.shield(reader), LOAD_DEADLINE_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            flow.proc.kill()
        await flow.proc.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    if flow.done is None:
        raise RuntimeError(f"the load process exited with {flow.proc.returncode} (see stderr)")
    errors: list[str] = flow.done["errors"]
    for error in errors[:5]:
        progress(f"load error: {error}")
    progress(f"load stopped: {len(flow.orders)} orders acknowledged, {flow.retried} after a "
             f"retry; resubmitting every one")  # fmt: skip
    verdict = await _verify(discovery, specs, tokens, flow.orders, progress)
    progress("waiting for every replica to stand at its primary's sequence number")
    check = await run_check(discovery, rpc_timeout=_RPC_TIMEOUT, wait=CONVERGE_DEADLINE_S)
    consistent = bool(check["consistent"] and check["converged"])
    if not consistent:
        progress(f"replicas disagree or did not converge: {json.dumps(check['symbols'])}")
    final = await watch.get()
    return {
        "kills": len(rounds),
        "promotion_ms": _spread([r["promotion_ms"] for r in rounds]),
        "takeover_ms": _spread([r["takeover_ms"] for r in rounds]),
        "acked": len(flow.orders),
        **verdict,
        "consistent": consistent,
        "retried": flow.retried,
        "recovered": flow.recovered,
        "errors": len(errors),
        "engines": len(bench.cluster.engines),
        "symbols": len(specs),
        "replication_factor": final["replication_factor"],
        "acks": final["acks"],
        "rate": rate,
        "rounds": rounds,
    }


async def _kill_one(
    bench: BenchCluster,
    watch: Placement,
    flow: Flow,
    names: list[str],
    k: int,
    ready_at: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """One round: kill symbol ``k % len(names)``'s primary, time it, bring it back."""
    index = k % len(names)
    symbol = names[index]
    await flow.wait_flowing(len(names), ready_at + FLOW_BEFORE_KILL_S)
    placed = (await watch.get())["symbols"][symbol]
    victim = placed["primary"]
    address = bench.engine(victim).info["address"]
    killed_at = time.monotonic()
    await bench.kill_engine(victim)
    placement = await watch.until(
        f"new primary for {symbol} after killing {victim}",
        FAILOVER_DEADLINE_S,
        lambda p: p["symbols"][symbol]["primary"] not in (None, victim),
    )
    promoted_at = time.monotonic()
    loop = asyncio.get_running_loop()
    give_up = loop.time() + FAILOVER_DEADLINE_S
    while (acked_at := flow.first_ack(index, killed_at, address)) is None:
        if loop.time() > give_up:
            raise RuntimeError(f"no order on {symbol} acknowledged within "
                               f"{FAILOVER_DEADLINE_S:g}s of killing {victim}")  # fmt: skip
        await asyncio.sleep(POLL_S / 2)
    new = placement["symbols"][symbol]
    result = {
        "symbol": symbol,
        "killed": victim,
        "primary": new["primary"],
        "epoch": new["epoch"],
        "promotion_ms": round((promoted_at - killed_at) * 1000, 1),
        "takeover_ms": round((acked_at - killed_at) * 1000, 1),
    }
    progress(f"kill {k + 1}: {victim} (primary of {symbol}); {new['primary']} named after "
             f"{result['promotion_ms']:.0f} ms, orders acked again after "
             f"{result['takeover_ms']:.0f} ms")  # fmt: skip
    restarted = time.monotonic()
    await bench.restart_engine(victim)
    await watch.until(f"{victim} in sync again", REJOIN_DEADLINE_S, _all_in_sync)
    result["rejoin_ms"] = round((time.monotonic() - restarted) * 1000, 1)
    progress(f"  {victim} restarted and in sync again after {result['rejoin_ms']:.0f} ms")
    return result


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"min": None, "p50": None, "max": None}
    return {"min": min(values), "p50": statistics.median(values), "max": max(values)}


async def _start_load(
    discovery: str, specs: list[InstrumentSpec], tokens: dict[str, str], rate: float
) -> Flow:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dome.bench.failover_load",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    config = {"discovery": discovery, "symbols": [s.to_dict() for s in specs],
              "tokens": tokens, "rate": rate}  # fmt: skip
    proc.stdin.write(json.dumps(config).encode() + b"\n")
    await proc.stdin.drain()
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), LOAD_DEADLINE_S)
    except TimeoutError:
        line = b""
    if not line.startswith(b'{"ready"'):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise RuntimeError(f"the load process did not start (exit {await proc.wait()})")
    return Flow(proc)


async def _verify(
    discovery: str,
    specs: list[InstrumentSpec],
    tokens: dict[str, str],
    orders: list[tuple[int, str, int, int]],
    progress: Callable[[str], None],
) -> dict[str, int]:
    """Resubmit every acknowledged order: each must be a duplicate of the same order id."""
    from dome.client.client import Client

    confirmed = lost = 0
    for side in SIDES:
        mine = [o for o in orders if o[1] == side]
        async with Client(discovery=discovery, token=tokens[f"failover-{side}"],
                          retry_deadline=RETRY_DEADLINE_S) as client:  # fmt: skip
            for at in range(0, len(mine), VERIFY_BATCH):
                chunk = mine[at : at + VERIFY_BATCH]
                actions = []
                for index, _, n, _ in chunk:
                    coid, price, qty = order_fields(specs[index], index, side, n)
                    actions.append(NewOrder(specs[index].symbol, side, qty, price,
                                            client_order_id=coid))  # fmt: skip
                try:
                    answers = await client.submit_orders(actions, batch_size=100)
                except DomeError as exc:
                    progress(f"resubmission failed: {exc}")
                    lost += len(chunk)
                    continue
                by_id = {a.client_order_id: a for a in answers}
                for action, (_, _, _, order_id) in zip(actions, chunk, strict=True):
                    answer = by_id.get(action.client_order_id or "")
                    if answer is not None and answer.duplicate and answer.order_id == order_id:
                        confirmed += 1
                        continue
                    lost += 1
                    if lost <= 5:
                        progress(f"lost: {action.client_order_id}, acknowledged as order "
                                 f"{order_id}, is now answered {answer}")  # fmt: skip
    progress(f"{confirmed} acknowledged order(s) answered as duplicates of themselves, {lost} not")
    return {"lost": lost, "duplicates": confirmed}
