"""Order-book throughput: DOME's two cores side by side and, optionally, liquibook (C++).

The question this answers is "how many book operations per second, and how far from a
well-known C++ matcher driven from Python". Both DOME cores run through the batch entry
points the engine uses, in chunks of ``batch`` commands. The native core (``dome_native``,
Rust) runs twice: bytes in, bytes out (``native``: a chunk's encoded ``LogBatch`` in,
its ``BatchEffects`` out, through ``Market.apply_encoded_effects``, decoding, matching
and encoding in one call with the GIL released), and objects in, objects out
(``native/objects``: ``Market.apply_batch``, every event built as the Python core's
NamedTuples). The Python core (``Market`` over ``ReferenceBook``) applies the chunk
command by command. By default all run in one session (native where it is built);
``core`` picks one core.

To keep the comparison fair:

- the operation list is generated once from the seed and both engines get exactly that
  list; every order has its own account, so DOME's self-trade prevention never fires and
  both engines must make the same trades (checked: the fill counts must be equal);
- inputs (DOME command tuples cut into chunks, liquibook ``SimpleOrder`` objects) and the
  empty books are built outside the timed region; only applying the operations is timed;
- the engines do comparable per-event work: DOME returns every event of every command
  (as bytes, or a ``MarketResult`` with its event tuples per command), liquibook's
  listener appends one tuple per accept, fill, cancel and cancel-reject; every event is
  kept and the fills counted afterwards (from the bytes: each ``Effect`` is parsed and
  its trades counted, and must agree with the batch's own count);
- time is the CPU time of the thread that applies the operations (``time.thread_time``:
  every engine here runs on the calling thread, the native core too), so a run on a
  shared machine is not charged for the time other processes held the cores; rates are
  operations per CPU-second;
- one warm-up run of each, then ``repeats`` timed runs, the engines' order rotating from
  run to run (so drift in machine load hits all alike), reporting the median of each;
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

from dome.core.commands import CancelOrder, Command, NewOrder
from dome.core.events import Trade
from dome.core.instrument import Instrument
from dome.core.market import Market, MarketResult
from dome.core.reference import ReferenceBook
from dome.core.types import OrderType, Side
from dome.log.entries import encode_batch
from dome.v1 import effects_pb2 as fx

WORKLOADS = ("A", "B")
PEERS = ("liquibook",)
#: DOME's cores: the Rust one (``dome_native``) and the Python reference.
CORES = ("native", "python")
#: What runs for each core: the native core through both of its batch interfaces.
RUNS = {"native": ("native", "native/objects"), "python": ("python",)}
#: Commands per ``apply_batch`` call (the engine folds 100-500 orders into one batch).
DEFAULT_BATCH = 500
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
    # One timestamp for all: a log batch carries one, and no event depends on it.
    commands: list[Command] = []
    for seq, op in enumerate(ops, start=1):
        if op.cancel_of is None:
            side = Side.BUY if op.is_buy else Side.SELL
            commands.append(
                NewOrder(
                    seq,
                    1,
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
            commands.append(CancelOrder(seq, 1, f"acct{op.cancel_of}", op.cancel_of))
    return commands


def native_built() -> bool:
    """Whether the native core imports here."""
    try:
        import dome_native  # noqa: F401
    except ImportError:
        return False
    return True


def _market(core: str) -> Any:
    """An empty market of ``core``; RuntimeError when the native core is not built."""
    if core == "python":
        return Market(ReferenceBook(INSTRUMENT))
    try:
        import dome_native
    except ImportError as exc:
        raise RuntimeError(
            f"the native core is not built ({exc}): run `make native`, or --core python"
        ) from None
    return dome_native.Market(INSTRUMENT)


def _run_dome(run: str, chunks: list[list[Command]], encoded: list[bytes]) -> tuple[float, int]:
    """Seconds to apply every chunk to a fresh market for ``run`` (``RUNS``), and how
    many trades."""
    if run == "native":
        return _run_bytes(encoded)
    market = _market(run.partition("/")[0])
    apply = market.apply_batch
    results: list[list[MarketResult]] = []
    append = results.append
    with _collector_paused():
        start = time.thread_time()
        for chunk in chunks:
            append(apply(chunk))
        elapsed = time.thread_time() - start
    fills = sum(
        1 for batch in results for result in batch for ev in result.events if type(ev) is Trade
    )
    return elapsed, fills


def _run_bytes(encoded: list[bytes]) -> tuple[float, int]:
    """``_run_dome`` for the native core, bytes in and bytes out."""
    apply = _market("native").apply_encoded_effects
    results: list[bytes] = []
    append = results.append
    with _collector_paused():
        start = time.thread_time()
        for data in encoded:
            append(apply(data))
        elapsed = time.thread_time() - start
    fills = 0
    for data in results:
        batch = fx.BatchEffects.FromString(data)
        trades = sum(1 for c in batch.commands for e in c.events if e.HasField("trade"))
        if trades != batch.trades:
            raise RuntimeError(f"a batch counts {batch.trades} trades and holds {trades}")
        fills += trades
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
        start = time.thread_time()
        for step, order in steps:
            step(order)
        elapsed = time.thread_time() - start
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
    core: str | None = None,
    batch: int = DEFAULT_BATCH,
) -> dict[str, object]:
    """Median operations per second of DOME's cores (and of ``vs``), on one workload.

    ``core`` None runs both cores (the native one only where it is built) and reports
    the first as ``engine``; ``cores`` holds each core's rate and its ratio to the peer.
    Raises ``ValueError`` for an unknown workload, core or peer, ``RuntimeError`` when
    the peer or the native core is missing or the engines disagree on the number of fills.
    """
    if vs is not None and vs not in PEERS:
        raise ValueError(f"unknown peer {vs!r}: choose from {PEERS}")
    if core is not None and core not in CORES:
        raise ValueError(f"unknown core {core!r}: choose from {CORES}")
    if ops < 1 or repeats < 1 or batch < 1:
        raise ValueError("ops, repeats and batch must be positive")
    cores = [core] if core else [c for c in CORES if c == "python" or native_built()]
    runs = [run for c in cores for run in RUNS[c]]
    say = progress or (lambda _message: None)
    say(f"workload {workload}: generating {ops:,} operations (seed {seed})")
    op_list = generate_ops(workload, ops, seed)
    commands = _dome_commands(op_list)
    chunks = [commands[i : i + batch] for i in range(0, len(commands), batch)]
    encoded = [encode_batch(INSTRUMENT.symbol, 1, chunk, 0) for chunk in chunks]

    engines = [*runs, *([vs] if vs else [])]
    say("warm-up: " + ", ".join(engines))
    fills: dict[str, int] = {}
    for engine in engines:
        fills[engine] = (
            _run_liquibook(op_list)[1] if engine == vs else _run_dome(engine, chunks, encoded)[1]
        )
    if len(set(fills.values())) > 1:
        made = ", ".join(f"{engine} made {count} fills" for engine, count in fills.items())
        raise RuntimeError(f"engines disagree: {made}")

    rates: dict[str, list[float]] = {engine: [] for engine in engines}
    for run in range(1, repeats + 1):
        # rotate who goes first, so no engine always runs on a warmer (or busier) machine
        shift = (run - 1) % len(engines)
        for engine in engines[shift:] + engines[:shift]:
            elapsed, count = (
                _run_liquibook(op_list) if engine == vs else _run_dome(engine, chunks, encoded)
            )
            if count != fills[engine]:
                raise RuntimeError(f"{engine} made {count} fills, earlier {fills[engine]}")
            rates[engine].append(ops / elapsed)
        say(
            f"run {run}/{repeats}: "
            + ", ".join(f"{engine} {rates[engine][-1]:,.0f} ops/s" for engine in engines)
        )

    median = {engine: statistics.median(values) for engine, values in rates.items()}
    peer_rate = median[vs] if vs else None

    def ratio(engine: str) -> float | None:
        return None if peer_rate is None else round(median[engine] / peer_rate, 4)

    return {
        "workload": workload,
        "ops": ops,
        "batch": batch,
        "engine": cores[0],
        "ops_per_sec": round(median[cores[0]], 1),
        "peer": vs,
        "peer_ops_per_sec": None if peer_rate is None else round(peer_rate, 1),
        "ratio": ratio(cores[0]),
        "fills": fills[cores[0]],
        "cores": {
            name: {"ops_per_sec": round(median[name], 1), "ratio": ratio(name)} for name in runs
        },
    }
