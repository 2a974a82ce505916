"""The client's half of cancel on disconnect: a session held open on every engine.

The exchange enforces it (``dome.engine.sessions``): once a session with cancel on
disconnect has been gone from an engine for its grace period, that engine cancels the
account's open orders on the symbols it leads. A client that dies (kill -9, a lost
network) stops holding the session everywhere at once. So that a failover cannot lose
the opt-in, the session is opened on every engine the placement lists, not only on
today's primaries, and reopened (same id) wherever its stream breaks while this client
lives; an engine that joins later gets one too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import grpc

from dome.client.errors import UnavailableError, from_grpc
from dome.v1 import trading_pb2, trading_pb2_grpc

#: Failures a reopen cannot cure: they end the session's task and are raised by ``start``.
_FATAL = frozenset(
    {
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


class DisconnectSession:
    """One session id, held open on each engine ``engines()`` names.

    ``changed(within)`` returns when the list may have changed (or ``within`` passed).
    """

    def __init__(
        self,
        session_id: str,
        grace: float,
        metadata: tuple[tuple[str, str], ...],
        engines: Callable[[], list[str]],
        channel: Callable[[str], grpc.aio.Channel],
        changed: Callable[[float], Awaitable[None]],
    ) -> None:
        self.session_id = session_id
        self.grace = grace
        self._request = trading_pb2.OpenSessionRequest(
            session_id=session_id, cancel_on_disconnect=True, grace_ms=max(1, round(grace * 1000))
        )
        self._metadata = metadata
        self._engines = engines
        self._channel = channel
        self._changed = changed
        self._held: dict[str, asyncio.Task[None]] = {}
        #: Engines on which the session is open now.
        self.open_on: set[str] = set()
        self._progress = asyncio.Event()
        self._fatal: Exception | None = None
        self._supervisor: asyncio.Task[None] | None = None

    async def start(self, within: float) -> None:
        """Open the session on every engine listed now; ``UnavailableError`` if that takes
        longer than ``within`` seconds, the typed error if an engine refuses it."""
        self._supervisor = asyncio.create_task(self._supervise())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            if self._fatal is not None:
                await self.close()
                raise self._fatal
            wanted = set(self._engines())
            if wanted and wanted <= self.open_on:
                return
            left = deadline - loop.time()
            if left <= 0:
                await self.close()
                missing = ", ".join(sorted(wanted - self.open_on)) or "no engine"
                raise UnavailableError(
                    grpc.StatusCode.UNAVAILABLE, f"cancel on disconnect not open on {missing}"
                )
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.5)):
                    await self._progress.wait()

    async def close(self) -> None:
        """Stop holding the session (the engines then start its grace period)."""
        tasks = [t for t in (self._supervisor, *self._held.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._held.clear()
        self.open_on.clear()

    async def _supervise(self) -> None:
        while True:
            wanted = set(self._engines())
            for address in wanted - set(self._held):
                self._held[address] = asyncio.create_task(self._hold(address))
            for address in set(self._held) - wanted:
                self._held.pop(address).cancel()
                self.open_on.discard(address)
            await self._changed(1.0)

    async def _hold(self, address: str) -> None:
        delay = 0.05
        stub = trading_pb2_grpc.TradingServiceStub(self._channel(address))
        while True:
            try:
                call = stub.OpenSession(self._request, metadata=self._metadata)
                async for _ in call:
                    self.open_on.add(address)
                    self._progress.set()
                    delay = 0.05
            except grpc.aio.AioRpcError as exc:
                if exc.code() in _FATAL:
                    self._fatal = from_grpc(exc)
                    self._progress.set()
                    return
            self.open_on.discard(address)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
