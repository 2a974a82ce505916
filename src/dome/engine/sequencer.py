"""The sequencer stage of one symbol: admit, stamp, log, then hand over to apply.

Commands that arrive while the previous batch is being processed, from any client,
are folded into the next batch: the sequencer takes everything waiting in one go each
time it runs. That batch is the unit a journal writes and fsyncs and replication ships
(DESIGN.md section 3). The path runs one way (DESIGN.md section 5): the sequencer stamps
a batch, gives it to its log stage, which journals and replicates it and returns what is
now committed, hands that to the ``Applier`` (apply, then the publish sinks) and answers
the submitters. A standalone engine has no log stage, and batches go straight to apply.
A follower never sequences: its replica hands the primary's batches to the same applier.

Only this class chooses sequence numbers, timestamps and order ids (order id = seq).
With a log stage, the next sequence number is the log's (``LogStage.next_seq``): a batch
the log refused left it unchanged, and one it journaled but could not commit keeps its
numbers, so nothing here has to be told to rewind.

Requests queued together share one future (``submit_batch``): at tens of thousands of
orders a second, a future, a callback and a wake-up per order cost more than matching
the order does. ``submit`` (a future per request) is built on top for callers that want
to await requests one by one.

Accounts are served fairly, not first come first served: each account has its own
queue, a batch takes from every account with work in turn (up to ``max_batch // n`` of
each of the ``n``, the rest to whoever has more), and one account may hold at most
``max_pending_per_account`` commands here. So a quiet account's order goes into the
next batch however deep another account's backlog is, and a flood is refused
(``Overloaded``) once it holds its share, instead of filling the symbol's queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from dome.core.commands import Command
from dome.engine.applier import Applied, Applier
from dome.engine.errors import EngineError, Overloaded, Unavailable
from dome.engine.requests import Request, stamp

log = logging.getLogger("dome.engine.sequencer")


class LogStage(Protocol):
    """Where a replicated symbol's batches are journaled and shipped before they apply."""

    @property
    def next_seq(self) -> int:
        """The sequence number the next batch starts at (the log's end + 1)."""
        ...

    async def commit(
        self, commands: Sequence[Command], *, more_queued: bool
    ) -> Sequence[Sequence[Command]]:
        """Journal and replicate ``commands``; return every batch now committed, in log
        order, ending with ``commands``.

        Earlier batches come first when they were journaled but failed to commit in
        time (their submitters were told so) and this commit covers them. Raises an
        ``EngineError`` when the batch must not be applied (the engine lost the symbol,
        or the journal refused it). ``more_queued`` says whether another batch follows
        at once (the log may then save a commit message).
        """
        ...


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


class Sequencer:
    """Feeds one symbol's applier in batches; ``submit_batch`` returns one future per call."""

    def __init__(
        self,
        applier: Applier,
        *,
        log_stage: LogStage | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        max_pending: int = 100_000,
        max_pending_per_account: int = 20_000,
        max_batch: int = 5_000,
    ) -> None:
        self.applier = applier
        self._log = log_stage
        self._clock_ns = clock_ns
        self.max_pending = max_pending
        self.max_pending_per_account = max_pending_per_account
        self.max_batch = max_batch
        #: Each account's queued calls, in arrival order; accounts in the order they are
        #: next served (an account goes to the back once served, and leaves when empty).
        self._inbox: dict[str, deque[Pending]] = {}
        #: Requests in the inbox not yet taken into a batch, in all and per account.
        self._queued = 0
        self._queued_by: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._last_ts = 0
        self._closed = False

    @property
    def symbol(self) -> str:
        """The market's symbol."""
        return self.applier.symbol

    @property
    def halted(self) -> str | None:
        """Why the symbol stopped taking commands here; None while it takes them."""
        return self.applier.halted

    def submit_batch(self, requests: Sequence[Request]) -> asyncio.Future[list[Applied]]:
        """Queue one account's ``requests`` in order, all or none; the future resolves
        once all are applied.

        Whether this engine may take writes for the symbol is decided once, at admission
        (``EngineNode.submit``); the log stage refuses a batch whose leadership lapsed by
        the time it is journaled.
        """
        if self._closed or self.halted:
            raise Unavailable(self.halted or "engine is shutting down")
        pending = Pending(requests, asyncio.get_running_loop().create_future())
        if not requests:
            pending.resolve()
            return pending.future
        account = requests[0].account
        held = self._queued_by.get(account, 0)
        if held + len(requests) > self.max_pending_per_account:
            raise Overloaded(
                f"{self.symbol}: account {account!r} has {held} commands pending, retry later"
            )
        if self._queued + len(requests) > self.max_pending:
            raise Overloaded(f"{self.symbol}: too many pending commands, retry later")
        queue = self._inbox.get(account)
        if queue is None:
            queue = self._inbox[account] = deque()
        queue.append(pending)
        self._queued += len(requests)
        self._queued_by[account] = held + len(requests)
        self._wake.set()
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

    def attach_log(self, log_stage: LogStage) -> None:
        """Journal (and replicate) every batch from now on."""
        self._log = log_stage

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
        """Up to ``max_batch`` requests, every waiting account's share in turn, and whose
        they are.

        Each account is visited once per batch (so a call's requests form one slice of
        it), taking up to its fair share of the room left; what an account does not use
        goes to those after it.
        """
        inbox = self._inbox
        room = self.max_batch
        taken: list[tuple[Pending, int]] = []
        requests: list[Request] = []
        waiting = list(inbox)
        for visited, account in enumerate(waiting):
            if not room:
                break
            queue = inbox.pop(account)
            share = max(1, room // (len(waiting) - visited))
            got = 0
            while queue and got < share:
                pending = queue[0]
                start = pending.taken
                stop = min(len(pending.requests), start + share - got)
                requests.extend(pending.requests[start:stop])
                pending.taken = stop
                got += stop - start
                taken.append((pending, stop - start))
                if stop == len(pending.requests):
                    queue.popleft()
            room -= got
            self._queued_by[account] -= got
            if queue:
                inbox[account] = queue  # to the back: served again after the others
            else:
                del self._queued_by[account]
        self._queued -= len(requests)
        return taken, requests

    async def _process(self, taken: list[tuple[Pending, int]], requests: list[Request]) -> None:
        # Sequence. Time never runs backwards within a symbol's log, whoever stamped last.
        ts = self._last_ts = max(self._clock_ns(), self._last_ts, self.applier.last_ts)
        # A log stage knows where its log ends; without one, the market's last is it.
        seq = self._log.next_seq if self._log is not None else self.applier.market.last_seq + 1
        commands = [stamp(request, seq + i, ts) for i, request in enumerate(requests)]
        # Log: journal and replicate. A batch that fails here is not applied now and its
        # submitters learn why; what the log commits comes back, this batch last.
        committed: Sequence[Sequence[Command]] = (commands,)
        if self._log is not None:
            try:
                committed = await self._log.commit(commands, more_queued=self._queued > 0)
            except Exception as exc:
                if not isinstance(exc, EngineError):
                    log.exception("log stage failed", extra={"symbol": self.symbol})
                    exc = Unavailable(f"{self.symbol}: the batch could not be journaled")
                for pending, _ in taken:
                    pending.fail(exc)
                return
        # Apply and publish: earlier batches whose commit was late first, counted by
        # nobody (their submitters were told they failed), then this one.
        applied: list[Applied] = []
        try:
            for earlier in committed[:-1]:
                self.applier.apply(earlier, sequenced=False)
            applied = self.applier.apply(commands, sequenced=True)
        except Unavailable:
            pass  # halted: answered below with what was applied
        # Answer, once per submitter; one that lost requests to a halt is answered with
        # what was applied, and the rest of it is not applied either.
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
