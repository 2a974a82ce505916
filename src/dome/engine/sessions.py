"""Cancel on disconnect: the sessions clients hold open on this engine, and what happens
when one with cancel on disconnect goes away.

A session is an ``OpenSession`` stream. When the last stream of a cancel-on-disconnect
session has been gone for its grace period (a reopen under the same id within it keeps
everything), the engine cancels the account's open orders on every symbol it leads,
with the mass cancel's plain per-order cancels, so the log and the followers see only
ordinary cancels. It keeps sweeping for ``sweep_for`` seconds after, so a symbol this
engine comes to lead meanwhile (a failover under way) is swept too, unless the account
opens a session here again first (a restarted bot).

The opt-in survives a failover because it is held where it is enforced: a cluster client
(``Client.cancel_on_disconnect``) opens its session on every engine, so the engine that
becomes a symbol's primary already knows the session, and sees it go when the client
does. An account's orders are not tagged by session, so the sweep takes all of them,
and it does not run while another session of the account is open on this engine (its
orders are attended).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from dome.engine.errors import EngineError, InvalidArgument

log = logging.getLogger("dome.engine.sessions")

DEFAULT_GRACE = 2.0
MAX_GRACE = 60.0
#: How long after expiry the engine keeps sweeping (symbols it comes to lead).
SWEEP_FOR = 15.0
SWEEP_EVERY = 0.25

#: Cancel the account's open orders on the symbols this engine leads; returns how many.
CancelAll = Callable[[str], Awaitable[int]]


@dataclass
class _Session:
    account: str
    cod: bool
    grace: float
    #: Streams open under this id on this engine (a reopen may beat the old one's end).
    streams: int = 0
    expiry: asyncio.Task[None] | None = field(default=None, repr=False)


class Sessions:
    """Every session opened on this engine, and the expiry timers of the gone ones."""

    def __init__(
        self,
        cancel_all: CancelAll,
        *,
        sweep_for: float = SWEEP_FOR,
        sweep_every: float = SWEEP_EVERY,
    ) -> None:
        self._cancel_all = cancel_all
        self._sweep_for = sweep_for
        self._sweep_every = sweep_every
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @staticmethod
    def grace_of(grace_ms: int) -> float:
        """The grace period a request asks for (0: the default), bounded."""
        if grace_ms == 0:
            return DEFAULT_GRACE
        return min(grace_ms / 1000, MAX_GRACE)

    def open(self, account: str, session_id: str, cod: bool, grace: float) -> None:
        """A stream of the session started: a pending expiry is called off."""
        if not session_id or len(session_id) > 64 or not session_id.isascii():
            raise InvalidArgument("session_id must be 1 to 64 ASCII characters")
        key = (account, session_id)
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = _Session(account, cod, grace)
        session.cod, session.grace = cod, grace
        session.streams += 1
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None

    def close(self, account: str, session_id: str) -> None:
        """A stream of the session ended; the last one starts its grace period."""
        key = (account, session_id)
        session = self._sessions.get(key)
        if session is None:
            return
        session.streams -= 1
        if session.streams > 0:
            return
        if not session.cod:
            del self._sessions[key]
            return
        task = asyncio.get_running_loop().create_task(self._expire(key, session))
        session.expiry = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def attended(self, account: str) -> bool:
        """Whether the account holds an open session here."""
        return any(s.account == account and s.streams > 0 for s in self._sessions.values())

    async def _expire(self, key: tuple[str, str], session: _Session) -> None:
        await asyncio.sleep(session.grace)
        if session.streams > 0:
            return
        if self._sessions.get(key) is session:
            del self._sessions[key]
        loop = asyncio.get_running_loop()
        until = loop.time() + self._sweep_for
        while loop.time() < until and not self.attended(session.account):
            try:
                cancelled = await self._cancel_all(session.account)
                if cancelled:
                    log.info(
                        "session gone: cancelled on disconnect",
                        extra={"account": session.account, "session": key[1], "orders": cancelled},
                    )
            except EngineError as exc:
                # A symbol changing hands mid-sweep; the next sweep tries again.
                log.info("cancel on disconnect sweep refused", extra={"reason": str(exc)})
            except Exception:
                log.exception("cancel on disconnect sweep failed")
            await asyncio.sleep(self._sweep_every)
