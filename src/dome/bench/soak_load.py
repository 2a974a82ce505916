"""The load side of ``dome bench soak``: one process sending orders through the SDK.

Unlike ``dome.bench.load`` (raw streams to fixed primaries, for throughput), this load
must live through kills: every order goes through the SDK's ``Client`` on discovery,
which routes each symbol's share to its primary and retries a batch with the same
client order ids through failovers (an order acknowledged twice is answered as a
duplicate of the first). A batch the client gives up on counts as ``unacked``: refused,
never acknowledged, so not something the audit may miss.

Per symbol a buyer and a seller account, each a loop sending its share of the rate in
calls of up to ``batch`` orders (about every ``SEND_EVERY_S``), open loop: call k is due
at ``start + k * interval`` whether or not earlier ones were answered, with at most
``max_in_flight`` calls outstanding per loop; a call due while
that many are out is not sent (``shed``), so a stalled cluster cannot make this process
queue without bound. Buyers price at or above the reference price and sellers at or
below, so every order meets any resting order of the other side: the load's resting
orders never pile up on the book (the book, and the engines' memory, stay the size of a
few batches), which a soak needs to tell a leak from a growing book.

Every acknowledged order's (n, seq, order id) is kept in a ring of ``keep`` entries per
loop (allocated at the start, so this process's memory does not grow with the run): the
audit can only check orders the journals still hold, and those are the latest.

Protocol with the coordinator (``dome.bench.soak``): one JSON config line on stdin;
``{"ready": true}`` once the clients are connected; ``go`` starts the clock; after
``duration`` one JSON line of counts; then a line ``{"from": {symbol: seq}}`` asks for
the kept acknowledged orders at or above ``seq``: one JSON line ``{"orders": {symbol:
[[seq, order_id, client_order_id], ...]}}``, as ``dome.bench.cluster.audit`` reads them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from array import array
from decimal import Decimal
from typing import Any

from dome.client.client import Client
from dome.client.errors import DomeError
from dome.client.models import NewOrder
from dome.client.simulation import REFERENCE_PRICES
from dome.instrument_spec import InstrumentSpec

#: A loop sends about this often: fewer, larger calls at high rates (up to ``batch``
#: orders), and no bursts of a whole batch every few seconds at low ones.
SEND_EVERY_S = 0.25
#: Prices go up to this many ticks through the reference price (buyers up, sellers down).
CROSS_TICKS = 10
#: Quantities are 1..this many lots.
MAX_LOTS = 5
#: How long a batch is retried through failovers before it counts as not acknowledged.
RETRY_DEADLINE_S = 30.0
#: Each attempt's deadline (a stream of ``batch`` orders).
ATTEMPT_TIMEOUT_S = 5.0
_SIDES = ("buy", "sell")


class Ring:
    """The last ``size`` acknowledged orders of one loop: (n, seq, order id), preallocated."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.n = array("q", bytes(8 * size))
        self.seq = array("q", bytes(8 * size))
        self.order_id = array("q", bytes(8 * size))
        self.count = 0

    def add(self, n: int, seq: int, order_id: int) -> None:
        at = self.count % self.size
        self.n[at], self.seq[at], self.order_id[at] = n, seq, order_id
        self.count += 1

    def kept(self) -> range:
        """Indices of the kept entries (the last ``size`` added)."""
        return range(min(self.count, self.size))


class Loop:
    """One account's orders on one symbol, on one side."""

    def __init__(self, spec: InstrumentSpec, side: str, prefix: str, keep: int) -> None:
        self.spec = spec
        self.side = side
        self.prefix = prefix
        ref = REFERENCE_PRICES.get(spec.symbol, Decimal(100))
        sign = 1 if side == "buy" else -1
        self.prices = [ref + sign * k * spec.tick_size for k in range(CROSS_TICKS + 1)]
        self.qtys = [spec.lot_size * k for k in range(1, MAX_LOTS + 1)]
        self.ring = Ring(keep)
        self.sent = self.acked = self.rejected = self.unacked = self.shed = 0
        self.duplicates_answered = 0
        self.next_n = 0

    def orders(self, count: int) -> tuple[int, list[NewOrder]]:
        first = self.next_n
        self.next_n += count
        out = [
            NewOrder(
                self.spec.symbol,
                self.side,
                self.qtys[n % MAX_LOTS],
                self.prices[(n * 7) % (CROSS_TICKS + 1)],
                client_order_id=f"{self.prefix}{n}",
            )
            for n in range(first, first + count)
        ]
        return first, out

    async def run(self, client: Client, start: float, config: dict[str, Any], rate: float) -> None:
        """Send ``rate`` orders/s from ``start`` for ``duration``, ``batch`` at most per call."""
        batch = max(1, min(config["batch"], round(rate * SEND_EVERY_S)))
        interval = batch / rate
        end = start + config["duration"]
        outstanding: set[asyncio.Task[None]] = set()
        k = 0
        while (due := start + k * interval) < end:
            k += 1
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(outstanding) >= config["max_in_flight"]:
                self.shed += batch
                continue
            task = asyncio.create_task(self.send(client, batch))
            outstanding.add(task)
            task.add_done_callback(outstanding.discard)
        if outstanding:
            await asyncio.gather(*outstanding)

    async def send(self, client: Client, count: int) -> None:
        first, orders = self.orders(count)
        self.sent += count
        try:
            results = await client.submit_orders(orders, batch_size=count)
        except DomeError:
            self.unacked += count
            return
        by_coid = {r.client_order_id: r for r in results}
        for n in range(first, first + count):
            result = by_coid.get(f"{self.prefix}{n}")
            if result is None:
                self.unacked += 1
            elif result.rejected:
                self.rejected += 1
            else:
                self.acked += 1
                self.duplicates_answered += result.duplicate
                self.ring.add(n, result.seq, result.order_id)

    def since(self, seq: int) -> list[list[Any]]:
        ring = self.ring
        return [
            [ring.seq[i], ring.order_id[i], f"{self.prefix}{ring.n[i]}"]
            for i in ring.kept()
            if ring.seq[i] >= seq
        ]


async def main() -> int:
    """Connect, wait for ``go``, run, report counts, answer the audit's question."""
    config = json.loads(sys.stdin.readline())
    specs = [InstrumentSpec.from_dict(d) for d in config["symbols"]]
    clients = {
        side: Client(
            discovery=config["discovery"],
            token=config["tokens"][side],
            timeout=ATTEMPT_TIMEOUT_S,
            retry_deadline=RETRY_DEADLINE_S,
        )
        for side in _SIDES
    }
    name = config["name"]
    loops = [
        (side, Loop(spec, side, f"{name}.{side}.{i}.", config["keep"]))
        for i, spec in enumerate(specs)
        for side in _SIDES
    ]
    rate = config["rate"] / len(loops)
    try:
        for client in clients.values():
            await client.connect()
        print(json.dumps({"ready": True}), flush=True)
        loop = asyncio.get_running_loop()
        if (await loop.run_in_executor(None, sys.stdin.readline)).strip() != "go":
            return 1
        start = time.monotonic()
        await asyncio.gather(*(lp.run(clients[side], start, config, rate) for side, lp in loops))
        elapsed = time.monotonic() - start
    finally:
        for client in clients.values():
            await client.close()
    counts = {
        key: sum(getattr(lp, key) for _, lp in loops)
        for key in ("sent", "acked", "rejected", "unacked", "shed", "duplicates_answered")
    }
    print(json.dumps({**counts, "elapsed": elapsed}), flush=True)
    ask = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    orders: dict[str, list[list[Any]]] = {}
    for _, lp in loops:
        orders.setdefault(lp.spec.symbol, []).extend(lp.since(ask["from"][lp.spec.symbol]))
    print(json.dumps({"orders": orders}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
