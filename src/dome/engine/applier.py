"""The apply and publish stages of one symbol: the only code that changes its market.

Every committed batch comes through here, whoever sequenced it: the sequencer's own
batches on a primary (or a standalone engine), the primary's batches on a follower, the
journal's on recovery. ``apply`` hands the batch to the market in one call (the native
core matches it without the GIL), then to each publish sink in order: execution reports,
market data, metrics, and whatever else the engine registers. Sinks run in list order,
so a later sink may read what an earlier one annotated on the ``Applied`` (the report
sink sets ``client_order_id``, the metrics sink ``outcome``; the answer reads both).

A book that raises may be half-changed: the applier then halts the symbol rather than
trade on a state nobody can vouch for (``halted`` says why), and returns only what it
knows was applied.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from dome.core.commands import Command
from dome.core.market import BatchFailed, MarketResult
from dome.core.outcome import Outcome
from dome.cores import MarketCore
from dome.engine.errors import Unavailable

log = logging.getLogger("dome.engine.applier")


class Applied:
    """One command after the market applied it; sinks annotate it."""

    __slots__ = ("client_order_id", "cmd", "outcome", "result")

    def __init__(self, cmd: Command, result: MarketResult) -> None:
        self.cmd = cmd
        self.result = result
        #: Client order id of the order the command addressed (set by the report sink).
        self.client_order_id = ""
        #: The command's events summarised for ``cmd.order_id`` (set by the metrics sink,
        #: reused by the answer; None for duplicates).
        self.outcome: Outcome | None = None


#: One publish stage: derives what it publishes from an applied batch. The second
#: argument is the time matching took for a batch this engine sequenced, and None for one
#: it replays (a follower's, recovery's, or one committed late): those are counted by the
#: engine that sequenced them, not again.
Sink = Callable[[Sequence[Applied], float | None], None]


class Applier:
    """Applies committed batches to one market and publishes them to its sinks."""

    def __init__(self, market: MarketCore, sinks: Sequence[Sink] = ()) -> None:
        self.market = market
        self.sinks: list[Sink] = list(sinks)
        #: Why the symbol stopped taking commands here (a broken book); None while healthy.
        self.halted: str | None = None
        #: Timestamp of the last command applied: the sequencer never stamps below it.
        self.last_ts = 0

    @property
    def symbol(self) -> str:
        """The market's symbol."""
        return self.market.instrument.symbol

    def apply(self, commands: Sequence[Command], *, sequenced: bool) -> list[Applied]:
        """Apply ``commands`` (committed, in log order) and publish them.

        ``sequenced`` is True only for the batch this engine just sequenced and will
        answer; the sinks count only those. ``Unavailable`` once the symbol is halted.
        """
        if self.halted:
            raise Unavailable(self.halted)
        if not commands:
            return []
        self.last_ts = max(self.last_ts, commands[-1].timestamp_ns)
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
        self._publish(applied, match_seconds if sequenced else None)
        return applied

    def publish_replayed(
        self, commands: Sequence[Command], results: Sequence[MarketResult]
    ) -> None:
        """Publish commands recovery already applied to the market (reports, market data)."""
        if commands:
            self.last_ts = max(self.last_ts, commands[-1].timestamp_ns)
        applied = [Applied(cmd, result) for cmd, result in zip(commands, results, strict=True)]
        self._publish(applied, None)

    def _publish(self, applied: Sequence[Applied], match_seconds: float | None) -> None:
        # A sink that fails must not stop the others, nor undo what the market applied.
        for sink in self.sinks:
            try:
                sink(applied, match_seconds)
            except Exception:
                log.exception("publishing a batch failed", extra={"symbol": self.symbol})
