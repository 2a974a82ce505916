"""Order-book throughput: DOME's book against itself and, optionally, liquibook (C++).

The question this answers is "how many book operations per second, and how far from a
well-known C++ matcher driven from Python". To keep the comparison fair:

- the operation list is generated once from the seed and both engines get exactly that
  list; every order has its own account, so DOME's self-trade prevention never fires and
  both engines must make the same trades (checked: the fill counts must be equal);
- inputs (DOME command tuples, liquibook ``SimpleOrder`` objects) and the empty books are
  built outside the timed region; only applying the operations is timed;
- both engines do comparable per-event work: DOME returns its event tuples, liquibook's
  listener appends one tuple per accept, fill, cancel and cancel-reject;
- one warm-up run of each, then ``repeats`` timed runs alternating engines (so drift in
  machine load hits both alike), reporting the median of each;
- like ``timeit``, the cyclic garbage collector is off inside the timed region for both
  engines (and a full collection runs before it). Neither book makes reference cycles,
  but both harnesses keep every event, and with the collector on, its full passes over
  that growing heap cost more than the matching itself (measured: DOME's rate on
  workload A fell from ~500k to ~210k ops/s), which would measure the collector.

Workloads (prices in ticks around a mid of 100,000; quantities uniform 1-100):

- A: limit prices uniform in mid +-50 for both sides: heavy crossing.
- B: buys in [mid-50, mid+2], sells in [mid-2, mid+50]: mostly resting, thin crossing,
  a deep book.

In both, 10% of operations cancel one of the last 1,000 orders placed (some of which are
filled already, so those cancels are refused: that is part of real flow).
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from dome.core.book_api import Book
from dome.core.commands import CancelOrder, Command, NewOrder
from dome.core.events import Event, Trade
from dome.core.instrument import Instrument
from dome.core.types import OrderType, Side


def _engine() -> tuple[str, Callable[[Instrument], Book]]:
    """The fast book when it exists, else the reference book (and which one, by name)."""
    try:
        from dome.core.book import OrderBook
    except ImportError:  # pragma: no cover - only while the fast book does not exist
        from dome.core.reference import ReferenceBook

        return "ReferenceBook", ReferenceBook
    return "OrderBook", OrderBook


ENGINE_NAME, _make_book = _engine()

WORKLOADS = ("A", "B")
PEERS = ("liquibook",)
MID = 100_000
#: Cancels pick among this many most recently placed orders.
CANCEL_WINDOW = 1_000
CANCEL_SHARE = 0.10
INSTRUMENT = Instrument("BENCH")


class Op(NamedTuple):
    """A new limit order (``cancel_of`` None) or a cancel of order ``cancel_of``."""

    order_id: int
    is_buy: bool
    price: int
    qty: int
    cancel_of: int | None


def generate_ops(workload: str, ops: int, seed: int) -> list[Op]:
    """The workload's operations, the same for every engine and every run of a seed."""
    if workload == "A":
        buy_range, sell_range = (-50, 50), (-50, 50)
    elif workload == "B":
        buy_range, sell_range = (-50, 2), (-2, 50)
    else:
        raise ValueError(f"unknown workload {workload!r}: choose from {WORKLOADS}")
    rng = random.Random(seed)
    placed: list[int] = []
    out: list[Op] = []
    for order_id in range(1, ops + 1):
        if placed and rng.random() < CANCEL_SHARE:
            target = rng.choice(placed[-CANCEL_WINDOW:])
            out.append(Op(order_id, False, 0, 0, target))
            continue
        is_buy = rng.random() < 0.5
        low, high = buy_range if is_buy else sell_range
        out.append(Op(order_id, is_buy, MID + rng.randint(low, high), rng.randint(1, 100), None))
        placed.append(order_id)
    return out


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Collect now, then keep the cyclic collector off until the block ends."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# ------------------------------------------------------------------ DOME


def _dome_commands(ops: list[Op]) -> list[Command]:
    commands: list[Command] = []
    for seq, op in enumerate(ops, start=1):
        if op.cancel_of is None:
            side = Side.BUY if op.is_buy else Side.SELL
            commands.append(
                NewOrder(
                    seq,
                    seq,
                    op.order_id,
                    f"acct{op.order_id}",
                    "",
                    side,
                    OrderType.LIMIT,
                    op.price,
                    op.qty,
                )
            )
        else:
            commands.append(CancelOrder(seq, seq, f"acct{op.cancel_of}", op.cancel_of))
    return commands


def _run_dome(commands: list[Command]) -> tuple[float, int]:
    """Seconds to apply ``commands`` to a fresh book, and how many trades it made."""
    book = _make_book(INSTRUMENT)
    apply = book.apply
    results: list[list[Event]] = []
    append = results.append
    with _collector_paused():
        start = time.perf_counter()
        for cmd in commands:
            append(apply(cmd))
        elapsed = time.perf_counter() - start
    fills = sum(1 for events in results for ev in events if type(ev) is Trade)
    return elapsed, fills


# ------------------------------------------------------------------ liquibook


def _liquibook() -> Any:
    try:
        import liquibook
    except ImportError as exc:  # pragma: no cover - liquibook is a test extra
        raise RuntimeError(
            "--vs liquibook needs the liquibook package (pip install liquibook)"
        ) from exc
    return liquibook


def _run_liquibook(ops: list[Op]) -> tuple[float, int]:
    """Seconds to apply ``ops`` to a fresh liquibook book, and how many fills it made."""
    lb = _liquibook()
    seen: list[tuple[Any, ...]] = []
    record = seen.append

    listener_base: Any = lb.OrderListener

    class Listener(listener_base):  # type: ignore[misc]
        def on_accept(self, order: Any) -> None:
            record(("accept", order))

        def on_reject(self, order: Any, reason: str) -> None:
            record(("reject", order, reason))

        def on_fill(self, order: Any, matched_order: Any, qty: int, price: int) -> None:
            record(("fill", order, matched_order, qty, price))

        def on_cancel(self, order: Any) -> None:
            record(("cancel", order))

        def on_cancel_reject(self, order: Any, reason: str) -> None:
            record(("cancel_reject", order, reason))

        def on_replace(self, order: Any, size_delta: int, new_price: int) -> None:
            record(("replace", order, size_delta, new_price))

        def on_replace_reject(self, order: Any, reason: str) -> None:
            record(("replace_reject", order, reason))

    book = lb.DepthOrderBook()
    listener = Listener()
    book.set_order_listener(listener)
    add, cancel = book.add, book.cancel
    by_id: dict[int, Any] = {}
    steps: list[tuple[Callable[[Any], Any], Any]] = []
    for op in ops:
        if op.cancel_of is None:
            order = lb.SimpleOrder(op.is_buy, op.price, op.qty)
            by_id[op.order_id] = order
            steps.append((add, order))
        else:
            steps.append((cancel, by_id[op.cancel_of]))
    with _collector_paused():
        start = time.perf_counter()
        for step, order in steps:
            step(order)
        elapsed = time.perf_counter() - start
    fills = sum(1 for entry in seen if entry[0] == "fill")
    return elapsed, fills


# ------------------------------------------------------------------ the benchmark


def run_book_bench(
    workload: str = "A",
    ops: int = 200_000,
    vs: str | None = None,
    repeats: int = 5,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Median operations per second of DOME's book (and of ``vs``), on one workload.

    Raises ``ValueError`` for an unknown workload or peer, ``RuntimeError`` when the peer
    is missing or the engines disagree on the number of fills.
    """
    if vs is not None and vs not in PEERS:
        raise ValueError(f"unknown peer {vs!r}: choose from {PEERS}")
    if ops < 1 or repeats < 1:
        raise ValueError("ops and repeats must be positive")
    say = progress or (lambda _message: None)
    say(f"workload {workload}: generating {ops:,} operations (seed {seed})")
    op_list = generate_ops(workload, ops, seed)
    commands = _dome_commands(op_list)

    say(f"warm-up: {ENGINE_NAME}" + (f" and {vs}" if vs else ""))
    _, dome_fills = _run_dome(commands)
    peer_fills = dome_fills
    if vs is not None:
        _, peer_fills = _run_liquibook(op_list)
        if peer_fills != dome_fills:
            raise RuntimeError(
                f"engines disagree: {ENGINE_NAME} made {dome_fills} fills, {vs} {peer_fills}"
            )

    dome_rates: list[float] = []
    peer_rates: list[float] = []
    for run in range(1, repeats + 1):
        # alternate who goes first, so neither engine always runs on a warmer machine
        order = ("dome", "peer") if run % 2 else ("peer", "dome")
        for engine in order:
            if engine == "dome":
                elapsed, fills = _run_dome(commands)
                if fills != dome_fills:
                    raise RuntimeError(f"{ENGINE_NAME} made {fills} fills, earlier {dome_fills}")
                dome_rates.append(ops / elapsed)
            elif vs is not None:
                elapsed, fills = _run_liquibook(op_list)
                if fills != peer_fills:
                    raise RuntimeError(f"{vs} made {fills} fills, earlier {peer_fills}")
                peer_rates.append(ops / elapsed)
        line = f"run {run}/{repeats}: {ENGINE_NAME} {dome_rates[-1]:,.0f} ops/s"
        if peer_rates:
            line += f", {vs} {peer_rates[-1]:,.0f} ops/s"
        say(line)

    ops_per_sec = statistics.median(dome_rates)
    peer_ops_per_sec = statistics.median(peer_rates) if peer_rates else None
    return {
        "workload": workload,
        "ops": ops,
        "ops_per_sec": round(ops_per_sec, 1),
        "peer": vs,
        "peer_ops_per_sec": None if peer_ops_per_sec is None else round(peer_ops_per_sec, 1),
        "ratio": None if peer_ops_per_sec is None else round(ops_per_sec / peer_ops_per_sec, 4),
        "engine": ENGINE_NAME,
        "fills": dome_fills,
    }
