"""The sequencer stage of one symbol: stamp, (journal), apply, publish, acknowledge.

Commands that arrive while the previous batch is being processed, from any client,
are folded into the next batch: the sequencer takes everything waiting in one go each
time it runs. That batch is the unit a journal writes and fsyncs and replication ships
(DESIGN.md section 3), so the stages stay separate here: ``journal`` is where the log
plugs in. On a replicated symbol it journals the batch, ships it to the followers and
returns once enough of them hold it; a standalone engine has none, and batches go
straight to the market. A follower never sequences: it hands the primary's stamped
commands to ``apply_stamped``, which runs the same apply and publish stages.

Only this class chooses sequence numbers, timestamps and order ids (order id = seq), and
only it mutates the market, always from one asyncio task.

Requests queued together share one future (``submit_batch``): at tens of thousands of
orders a second, a future, a callback and a wake-up per order cost more than matching
the order does. ``submit`` (a future per request) is built on top for callers that want
to await requests one by one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from dome.core.commands import Command
from dome.core.market import BatchFailed, MarketResult
from dome.core.outcome import Outcome
from dome.cores import MarketCore
from dome.engine.errors import EngineError, Overloaded, Unavailable
from dome.engine.requests import Request, stamp

log = logging.getLogger("dome.engine.sequencer")

#: Persist (and replicate) a batch of stamped commands before they are applied. It raises
#: an ``EngineError`` when the batch must not be applied (the engine lost the symbol).
Journal = Callable[[Sequence[Command]], Awaitable[None]]

#: Raises an ``EngineError`` when the symbol takes no writes here now.
Gate = Callable[[], None]


class Applied:
    """One command after the market applied it; later stages annotate it."""

    __slots__ = ("client_order_id", "cmd", "outcome", "result")

    def __init__(self, cmd: Command, result: MarketResult) -> None:
        self.cmd = cmd
        self.result = result
        #: Client order id of the order the command addressed (set by the report stage).
        self.client_order_id = ""
        #: The command's events summarised for ``cmd.order_id`` (set by the metrics stage,
        #: reused by the answer; None for duplicates).
        self.outcome: Outcome | None = None


class Pending:
    """Requests queued together; ``future`` gets their ``Applied``, in order, all at once.

    The list is shorter than ``requests`` only when the symbol halted before applying
    the rest (``Sequencer.halted`` says why).
    """

    __slots__ = ("applied", "future", "requests", "taken")

    def __init__(self, requests: Sequence[Request], future: asyncio.Future[list[Applied]]) -> None:
        self.requests = requests
        self.future = future
        self.applied: list[Applied] = []
        #: How many of ``requests`` the sequencer has taken into batches so far.
        self.taken = 0

    def resolve(self) -> None:
        """Hand ``applied`` to the submitter (once)."""
        if not self.future.done():
            self.future.set_result(self.applied)

    def fail(self, exc: BaseException) -> None:
        """Tell the submitter that none of its (remaining) requests were applied."""
        if not self.future.done():
            self.future.set_exception(exc)


#: Derive everything downstream (reports, market data, metrics) from an applied batch.
#: The second argument is the time matching took for a batch this engine sequenced, and
#: None for one it replays (a follower's, or recovery's): those are not counted again.
Publisher = Callable[[Sequence[Applied], float | None], None]


class Sequencer:
    """Feeds one ``Market`` in batches; ``submit_batch`` returns one future per call."""

    def __init__(
        self,
        market: MarketCore,
        publish: Publisher,
        *,
        journal: Journal | None = None,
        gate: Gate | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        max_pending: int = 100_000,
        max_batch: int = 5_000,
    ) -> None:
        self.market = market
        self._publish = publish
        self._journal = journal
        self._gate = gate
        self._clock_ns = clock_ns
        self.max_pending = max_pending
        self.max_batch = max_batch
        self._inbox: deque[Pending] = deque()
        #: Requests in the inbox not yet taken into a batch.
        self._queued = 0
        self._wake = asyncio.Event()
        self._next_seq = market.last_seq + 1
        self._last_ts = 0
        self._closed = False
        self.halted: str | None = None

    @property
    def symbol(self) -> str:
        """The market's symbol."""
        return self.market.instrument.symbol

    def submit_batch(self, requests: Sequence[Request]) -> asyncio.Future[list[Applied]]:
        """Queue ``requests`` in order, all or none; the future resolves once all are applied."""
        if self._closed or self.halted:
            raise Unavailable(self.halted or "engine is shutting down")
        if self._gate is not None:
            self._gate()
        if self._queued + len(requests) > self.max_pending:
            raise Overloaded(f"{self.symbol}: too many pending commands, retry later")
        pending = Pending(requests, asyncio.get_running_loop().create_future())
        if requests:
            self._inbox.append(pending)
            self._queued += len(requests)
            self._wake.set()
        else:
            pending.resolve()
        return pending.future

    def submit(self, requests: Sequence[Request]) -> list[asyncio.Future[Applied]]:
        """``submit_batch`` with one future per request (``Unavailable`` if not applied)."""
        batch = self.submit_batch(requests)
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Applied]] = [loop.create_future() for _ in requests]

        def fan_out(done: asyncio.Future[list[Applied]]) -> None:
            applied = done.result()
            for i, future in enumerate(futures):
                if future.done():
                    continue
                if i < len(applied):
                    future.set_result(applied[i])
                else:
                    future.set_exception(Unavailable(self.halted or "not applied"))

        batch.add_done_callback(fan_out)
        return futures

    def has_queued(self) -> bool:
        """Whether requests are waiting for the next batch."""
        return self._queued > 0

    def attach_log(self, journal: Journal, gate: Gate) -> None:
        """Journal (and replicate) every batch from now on; ``gate`` admits writes."""
        self._journal = journal
        self._gate = gate

    def reset(self, next_seq: int, last_ts: int = 0) -> None:
        """Continue sequencing at ``next_seq`` (the journal's end, after a role change)."""
        self._next_seq = next_seq
        self._last_ts = max(self._last_ts, last_ts)

    def fail_queued(self, exc: BaseException) -> None:
        """Refuse everything waiting in the inbox (the symbol stopped taking writes here)."""
        while self._inbox:
            self._inbox.popleft().fail(exc)
        self._queued = 0

    def apply_stamped(self, commands: Sequence[Command]) -> list[Applied]:
        """Apply commands another engine sequenced (or a journal holds), then publish them.

        Only for a symbol this engine does not sequence right now, so nothing races the
        sequencing loop for the market.
        """
        if self.halted:
            raise Unavailable(self.halted)
        if commands:
            self._last_ts = max(self._last_ts, commands[-1].timestamp_ns)
            self._next_seq = commands[-1].seq + 1
        return self._apply_and_publish(commands, sequenced=False)

    def publish_replayed(
        self, commands: Sequence[Command], results: Sequence[MarketResult]
    ) -> None:
        """Publish commands recovery already applied to the market (reports, market data)."""
        if commands:
            self._last_ts = max(self._last_ts, commands[-1].timestamp_ns)
            self._next_seq = commands[-1].seq + 1
        applied = [Applied(cmd, result) for cmd, result in zip(commands, results, strict=True)]
        try:
            self._publish(applied, None)
        except Exception:
            log.exception("publishing a replayed batch failed", extra={"symbol": self.symbol})

    def close(self) -> None:
        """Stop taking requests; ``run`` returns once the inbox is drained."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """Process batches until closed."""
        while True:
            if not self._inbox:
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            taken, requests = self._take()
            if self.halted:
                for pending, _ in taken:
                    pending.resolve()
                continue
            await self._process(taken, requests)

    def _take(self) -> tuple[list[tuple[Pending, int]], list[Request]]:
        """Up to ``max_batch`` requests from the head of the inbox, and whose they are."""
        inbox = self._inbox
        room = self.max_batch
        taken: list[tuple[Pending, int]] = []
        requests: list[Request] = []
        while inbox and room:
            pending = inbox[0]
            start = pending.taken
            stop = min(len(pending.requests), start + room)
            requests.extend(pending.requests[start:stop])
            pending.taken = stop
            room -= stop - start
            taken.append((pending, stop - start))
            if stop == len(pending.requests):
                inbox.popleft()
        self._queued -= len(requests)
        return taken, requests

    async def _process(self, taken: list[tuple[Pending, int]], requests: list[Request]) -> None:
        # Stage 1: sequence. Time never runs backwards within a symbol's log.
        ts = self._last_ts = max(self._clock_ns(), self._last_ts)
        seq = self._next_seq
        commands = [stamp(request, seq + i, ts) for i, request in enumerate(requests)]
        self._next_seq = seq + len(commands)
        # Stage 2: journal and replicate. A batch that fails here is not applied now and
        # its submitters learn why. Whether its sequence numbers are free again is the
        # journal stage's to say (``reset``): once journaled and shipped, the batch may
        # still commit, and then it is applied ahead of the next one.
        if self._journal is not None:
            try:
                await self._journal(commands)
            except Exception as exc:
                if not isinstance(exc, EngineError):
                    log.exception("journal stage failed", extra={"symbol": self.symbol})
                    exc = Unavailable(f"{self.symbol}: the batch could not be journaled")
                for pending, _ in taken:
                    pending.fail(exc)
                return
        applied = self._apply_and_publish(commands)
        # Stage 5: acknowledge, once per submitter; one that lost requests to a halt is
        # answered with what was applied, and the rest of it is not applied either.
        position = 0
        for pending, count in taken:
            part = applied[position : position + count]
            position += count
            if len(part) == len(pending.requests):
                pending.applied = part
            else:
                pending.applied.extend(part)
            if len(part) < count or pending.taken == len(pending.requests):
                pending.resolve()

    def _apply_and_publish(
        self, commands: Sequence[Command], *, sequenced: bool = True
    ) -> list[Applied]:
        # Stage 3: apply, one call for the whole batch (the native core matches it
        # without the GIL). A book that raises may be half-changed: halt the symbol
        # rather than keep trading on a state nobody can vouch for, and answer only the
        # commands known to be applied.
        started = time.perf_counter()
        try:
            results = self.market.apply_batch(commands)
        except Exception as exc:
            results = exc.results if isinstance(exc, BatchFailed) else []
            self.halted = f"{self.symbol} is halted after an internal error"
            log.critical(
                "book failed; symbol halted",
                exc_info=True,
                extra={"symbol": self.symbol, "seq": commands[len(results)].seq},
            )
        match_seconds = time.perf_counter() - started
        applied = [Applied(cmd, result) for cmd, result in zip(commands, results, strict=False)]
        # Stage 4: publish reports, market data and metrics.
        try:
            self._publish(applied, match_seconds if sequenced else None)
        except Exception:
            log.exception("publishing a batch failed", extra={"symbol": self.symbol})
        return applied
