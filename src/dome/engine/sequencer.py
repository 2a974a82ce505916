"""The sequencer stage of one symbol: stamp, (journal), apply, publish, acknowledge.

Commands that arrive while the previous batch is being processed, from any client,
are folded into the next batch: the sequencer takes everything waiting in one go each
time it runs. That batch is the unit a journal writes and fsyncs and replication ships
(DESIGN.md section 3), so the stages stay separate here: ``journal`` is where the log
plugs in; today it is absent and batches go straight to the market.

Only this class chooses sequence numbers, timestamps and order ids (order id = seq), and
only it mutates the market, always from one asyncio task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from dome.core.commands import Command
from dome.core.market import Market, MarketResult
from dome.engine.errors import Overloaded, Unavailable
from dome.engine.requests import Request, stamp

log = logging.getLogger("dome.engine.sequencer")

#: Persist a batch of stamped commands before they are applied (the future log stage).
Journal = Callable[[Sequence[Command]], Awaitable[None]]


class Applied:
    """One command after the market applied it; later stages annotate it."""

    __slots__ = ("client_order_id", "cmd", "result")

    def __init__(self, cmd: Command, result: MarketResult) -> None:
        self.cmd = cmd
        self.result = result
        #: Client order id of the order the command addressed (set by the report stage).
        self.client_order_id = ""


#: Derive everything downstream (reports, market data, metrics) from an applied batch.
Publisher = Callable[[Sequence[Applied], float], None]


class Sequencer:
    """Feeds one ``Market`` in batches; ``submit`` returns one future per request."""

    def __init__(
        self,
        market: Market,
        publish: Publisher,
        *,
        journal: Journal | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        max_pending: int = 100_000,
        max_batch: int = 5_000,
    ) -> None:
        self.market = market
        self._publish = publish
        self._journal = journal
        self._clock_ns = clock_ns
        self.max_pending = max_pending
        self.max_batch = max_batch
        self._inbox: list[tuple[Request, asyncio.Future[Applied]]] = []
        self._wake = asyncio.Event()
        self._next_seq = market.last_seq + 1
        self._last_ts = 0
        self._closed = False
        self.halted: str | None = None

    @property
    def symbol(self) -> str:
        """The market's symbol."""
        return self.market.instrument.symbol

    def submit(self, requests: Sequence[Request]) -> list[asyncio.Future[Applied]]:
        """Queue ``requests`` in order, all or none; their futures resolve after applying."""
        if self._closed or self.halted:
            raise Unavailable(self.halted or "engine is shutting down")
        if len(self._inbox) + len(requests) > self.max_pending:
            raise Overloaded(f"{self.symbol}: too many pending commands, retry later")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in requests]
        self._inbox.extend(zip(requests, futures, strict=True))
        self._wake.set()
        return futures

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
            items = self._inbox[: self.max_batch]
            del self._inbox[: self.max_batch]
            if self.halted:
                for _, future in items:
                    if not future.done():
                        future.set_exception(Unavailable(self.halted))
                continue
            await self._process(items)

    async def _process(self, items: list[tuple[Request, asyncio.Future[Applied]]]) -> None:
        # Stage 1: sequence. Time never runs backwards within a symbol's log.
        ts = self._last_ts = max(self._clock_ns(), self._last_ts)
        seq = self._next_seq
        commands = [stamp(request, seq + i, ts) for i, (request, _) in enumerate(items)]
        self._next_seq = seq + len(commands)
        # Stage 2: journal (replication will wait here too).
        if self._journal is not None:
            await self._journal(commands)
        # Stage 3: apply. A book that raises may be half-changed: halt the symbol rather
        # than keep trading on a state nobody can vouch for.
        apply = self.market.apply
        applied: list[Applied] = []
        started = time.perf_counter()
        try:
            for cmd in commands:
                applied.append(Applied(cmd, apply(cmd)))
        except Exception:
            self.halted = f"{self.symbol} is halted after an internal error"
            log.critical(
                "book failed; symbol halted",
                exc_info=True,
                extra={"symbol": self.symbol, "seq": commands[len(applied)].seq},
            )
        match_seconds = time.perf_counter() - started
        # Stage 4: publish reports, market data and metrics.
        try:
            self._publish(applied, match_seconds)
        except Exception:
            log.exception("publishing a batch failed", extra={"symbol": self.symbol})
        # Stage 5: acknowledge.
        for (_, future), done in zip(items, applied, strict=False):
            if not future.done():
                future.set_result(done)
        for _, future in items[len(applied) :]:
            if not future.done():
                future.set_exception(Unavailable(self.halted or "not applied"))
