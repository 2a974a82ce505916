"""Fan-out of derived messages to stream subscribers, with a bound on each buffer.

The sequencer must never wait for a subscriber: it pushes into every subscriber's
buffer and moves on. A subscriber that lets its buffer fill up is cut off (its stream
ends with RESOURCE_EXHAUSTED) rather than slowing the symbol down or growing without
limit; every message carries sequence numbers, so a client that resubscribes knows
what it missed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from dome.engine.errors import SlowConsumer

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

#: Messages a subscriber may have waiting before it is cut off.
DEFAULT_BUFFER = 10_000


class Subscription(Generic[T]):
    """One subscriber's bounded buffer."""

    def __init__(self, limit: int = DEFAULT_BUFFER) -> None:
        self.limit = limit
        self.overflowed = False
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()

    def push(self, item: T) -> None:
        """Queue ``item``; on overflow drop everything and mark the subscriber cut off."""
        if self.overflowed:
            return
        if len(self._items) >= self.limit:
            self.overflowed = True
            self._items.clear()
        else:
            self._items.append(item)
        self._ready.set()

    async def next_items(self) -> list[T]:
        """Wait for at least one item and take all that are waiting."""
        while not self._items and not self.overflowed:
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            raise SlowConsumer("subscriber fell too far behind; resubscribe")
        items = list(self._items)
        self._items.clear()
        return items


class Topic(Generic[K, T]):
    """Subscribers grouped by key (an account, a symbol)."""

    def __init__(self, buffer: int = DEFAULT_BUFFER) -> None:
        self.buffer = buffer
        self._subs: dict[K, set[Subscription[T]]] = {}

    def has(self, key: K) -> bool:
        """Whether anyone listens on ``key``: callers skip building unread messages."""
        return key in self._subs

    def publish(self, key: K, item: T) -> None:
        """Push ``item`` to every subscriber of ``key``."""
        for sub in self._subs.get(key, ()):
            sub.push(item)

    @contextmanager
    def subscribe(self, keys: list[K]) -> Iterator[Subscription[T]]:
        """A subscription on ``keys`` for the duration of the ``with`` block."""
        sub: Subscription[T] = Subscription(self.buffer)
        for key in keys:
            self._subs.setdefault(key, set()).add(sub)
        try:
            yield sub
        finally:
            for key in keys:
                subs = self._subs.get(key)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subs[key]
