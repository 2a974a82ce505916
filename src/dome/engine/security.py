"""Who is calling, and how much they may ask: bearer tokens, rates and open streams.

Every trading call goes through one ``Gate``, so authentication and limits are checked
the same way everywhere. Tokens are looked up by their SHA-256 digest: the dictionary
lookup then reveals nothing about how much of a guessed token was right.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import grpc

from dome.engine.errors import RateLimited, TooManyStreams, Unauthenticated


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up.

    >>> bucket = TokenBucket(rate=10, burst=10, now=0.0)
    >>> bucket.take(10, now=0.0), bucket.take(1, now=0.0), bucket.take(1, now=0.1)
    (True, False, True)
    """

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = now

    def take(self, n: int, now: float) -> bool:
        """Take ``n`` tokens if there are that many."""
        tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if tokens < n:
            self._tokens = tokens
            return False
        self._tokens = tokens - n
        return True


class StreamSlots:
    """At most ``limit`` open streams per key."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold one slot of ``key`` for the ``with`` block; ``TooManyStreams`` if none is free."""
        count = self._open.get(key, 0)
        if count >= self.limit:
            raise TooManyStreams(f"at most {self.limit} open streams allowed")
        self._open[key] = count + 1
        try:
            yield
        finally:
            left = self._open[key] - 1
            if left:
                self._open[key] = left
            else:
                del self._open[key]


class Gate:
    """Authentication, per-account command rate and per-account stream count."""

    def __init__(
        self,
        accounts: Mapping[str, str],
        rate: float,
        burst: float | None = None,
        max_streams: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._by_digest = {_digest(token): account for account, token in accounts.items()}
        self._rate = rate
        self._burst = rate if burst is None else burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self.streams = StreamSlots(max_streams)

    def account(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        """The account the call's bearer token names; ``Unauthenticated`` otherwise."""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                text = value.decode() if isinstance(value, bytes) else value
                scheme, _, token = text.partition(" ")
                if scheme.lower() != "bearer" or not token:
                    break
                account = self._by_digest.get(_digest(token.strip()))
                if account is None:
                    raise Unauthenticated("unknown bearer token")
                return account
        raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")

    def admit(self, account: str, commands: int) -> None:
        """Charge ``commands`` to the account's rate; ``RateLimited`` if it has too few."""
        now = self._clock()
        bucket = self._buckets.get(account)
        if bucket is None:
            bucket = self._buckets[account] = TokenBucket(self._rate, self._burst, now)
        if not bucket.take(commands, now):
            raise RateLimited(f"rate limit of {self._rate:g} commands/s exceeded")
