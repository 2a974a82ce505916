"""Who is calling, and how much they may ask: bearer tokens, rates and open streams.

Every trading call goes through one ``Gate``, so authentication and limits are checked
the same way everywhere. The Gate knows only the SHA-256 of each token (the accounts file
holds nothing else, ``dome.accounts``). A presented token is hashed, a few candidate
accounts are found by the first bytes of that hash (a dictionary lookup: what it could
reveal is how much of the *hash* of a guess matches, which says nothing about the token),
and the whole hash is compared with ``hmac.compare_digest``, in constant time. That
comparison is the verdict. The cost is one SHA-256 of a short string per call, about a
microsecond, so nothing needs caching per connection.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import grpc

from dome.accounts import HASH_PREFIX, is_hashed
from dome.engine.errors import Overloaded, RateLimited, TooManyStreams, Unauthenticated

#: Bytes of a token's digest that pick its candidate accounts; the rest is compared.
_SELECTOR_BYTES = 8


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _stored_digest(value: str) -> bytes:
    """The digest an accounts-file value stands for: a hash as it is, a clear token hashed."""
    if is_hashed(value):
        return bytes.fromhex(value[len(HASH_PREFIX) :])
    return _digest(value)


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
        return self.wait(n, now) == 0.0

    def wait(self, n: int, now: float) -> float:
        """Take ``n`` tokens if there are that many (0.0); else the seconds until there
        will be, taking none (``inf`` for more than a burst, which never fits).

        >>> bucket = TokenBucket(rate=10, burst=10, now=0.0)
        >>> bucket.wait(8, now=0.0), bucket.wait(4, now=0.0), bucket.wait(4, now=0.2)
        (0.0, 0.2, 0.0)
        >>> bucket.wait(11, now=5.0)
        inf
        """
        tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if tokens < n:
            self._tokens = tokens
            return (n - tokens) / self.rate if n <= self.burst else math.inf
        self._tokens = tokens - n
        return 0.0


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


class CallSlots:
    """At most ``limit`` unary calls in the engine's handlers at once, all accounts together.

    A burst beyond what the engine can serve at once is shed here, typed and at once, so
    the calls gRPC has queued for the handlers are picked up quickly and its own queue
    (which sheds with a bare CANCELLED) never fills.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold one slot for the ``with`` block; ``Overloaded`` if none is free."""
        if self.held >= self.limit:
            raise Overloaded(
                f"engine busy: {self.held} calls in progress (at most {self.limit}); "
                "retry with backoff"
            )
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1


def _candidates(accounts: Mapping[str, str]) -> dict[bytes, list[tuple[bytes, str]]]:
    """Stored digests grouped by their first bytes, so a lookup compares only a few."""
    candidates: dict[bytes, list[tuple[bytes, str]]] = {}
    for account, value in accounts.items():
        digest = _stored_digest(value)
        candidates.setdefault(digest[:_SELECTOR_BYTES], []).append((digest, account))
    return candidates


class Gate:
    """Authentication, per-account command rate and stream count, and calls in progress.

    ``accounts`` maps each account to its token's hash (``sha256:<hex>``, as
    ``dome.accounts.load_accounts`` returns them); a clear token is hashed here.
    """

    def __init__(
        self,
        accounts: Mapping[str, str],
        rate: float,
        burst: float | None = None,
        max_streams: int = 16,
        clock: Callable[[], float] = time.monotonic,
        max_calls: int = 20_000,
    ) -> None:
        self._candidates = _candidates(accounts)
        #: The token each account last authenticated with on this engine, in memory only:
        #: forwarding an account's order to its symbol's primary presents it there (the
        #: accounts file holds no token to forward with).
        self.presented_tokens: dict[str, str] = {}
        self._rate = rate
        self._burst = rate if burst is None else burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self.streams = StreamSlots(max_streams)
        self.calls = CallSlots(max_calls)

    def replace_accounts(self, accounts: Mapping[str, str]) -> None:
        """Authenticate against ``accounts`` from now on (the accounts file changed).

        Tokens remembered for forwarding are dropped where they no longer verify, so a
        revoked token is not presented to a primary on its account's behalf.
        """
        self._candidates = _candidates(accounts)
        for account, token in list(self.presented_tokens.items()):
            if self._verify(token) != account:
                del self.presented_tokens[account]

    def account(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        """The account the call's bearer token names; ``Unauthenticated`` otherwise."""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                text = value.decode() if isinstance(value, bytes) else value
                scheme, _, token = text.partition(" ")
                if scheme.lower() != "bearer" or not token:
                    break
                token = token.strip()
                account = self._verify(token)
                if account is None:
                    raise Unauthenticated("unknown bearer token")
                if self.presented_tokens.get(account) != token:
                    self.presented_tokens[account] = token
                return account
        raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")

    def _verify(self, token: str) -> str | None:
        """The account whose stored digest equals the token's, compared in constant time."""
        digest = _digest(token)
        found = None
        for stored, account in self._candidates.get(digest[:_SELECTOR_BYTES], ()):
            if hmac.compare_digest(stored, digest):
                found = account
        return found

    def admit(self, account: str, commands: int) -> None:
        """Charge ``commands`` to the account's rate; ``RateLimited`` if it has too few."""
        if self.pace(account, commands) > 0.0:
            raise RateLimited(f"rate limit of {self._rate:g} commands/s exceeded")

    def pace(self, account: str, commands: int) -> float:
        """Charge ``commands`` to the account's rate if it has them (0.0); else the seconds
        until it will, charging nothing. ``RateLimited`` for more than a burst at once,
        which no wait admits.

        A stream waits that long before it reads on (``TradingServicer.SubmitOrders``):
        refusing would end the stream and everything in flight on it, and the client's
        reconnection, authentication and resends cost the engine more than the batch.
        """
        now = self._clock()
        bucket = self._buckets.get(account)
        if bucket is None:
            bucket = self._buckets[account] = TokenBucket(self._rate, self._burst, now)
        wait = bucket.wait(commands, now)
        if wait == math.inf:
            raise RateLimited(
                f"{commands} commands at once exceed the burst of {self._burst:g} "
                f"(rate limit of {self._rate:g} commands/s)"
            )
        return wait
