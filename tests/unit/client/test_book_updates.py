"""The SDK's book-update loop: one loop for a single engine and for a cluster's replicas.

Scripted streams stand for the engines (each subscription a list of updates, then the
stream stays open or its engine dies), so the same history can be fed through the
direct transport (``direct_book``) and the routed one (``resuming_book``, which moves to
another replica when one dies) into ``follow_book``, and what the caller sees compared.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from decimal import Decimal
from typing import Any, cast

import grpc
import pytest

from dome.client.models import StreamStats
from dome.client.resuming import Replicas, resuming_book
from dome.client.streams import direct_book, follow_book
from dome.v1 import common_pb2, market_data_pb2

Update = market_data_pb2.BookUpdate
Subscribe = Callable[[], AsyncGenerator[Update | None, None]]


def snapshot(seq: int, bid: int) -> Update:
    level = common_pb2.PriceLevel(price=str(bid), qty="1", order_count=1)
    return Update(symbol="XYZ", seq=seq, snapshot=True, bids=[level])


def increment(prev_seq: int, seq: int, bid: int) -> Update:
    level = common_pb2.PriceLevel(price=str(bid), qty="1", order_count=1)
    return Update(symbol="XYZ", seq=seq, prev_seq=prev_seq, bids=[level])


class ScriptedCall:
    """A StreamBook call: its updates, then open with nothing more, or its engine dies."""

    def __init__(self, updates: list[Update], dies: bool = False) -> None:
        self._updates = updates
        self._dies = dies

    def __aiter__(self) -> AsyncIterator[Update]:
        return self._run()

    async def _run(self) -> AsyncIterator[Update]:
        for update in self._updates:
            yield update
        if self._dies:
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "gone"
            )
        await asyncio.Event().wait()

    def cancel(self) -> None:
        pass


class ScriptedEngines:
    """Hands out the scripted calls in order: as one engine's stub (``StreamBook``) or as
    the replicas of a cluster (``open``: each call on the next replica)."""

    def __init__(self, calls: list[ScriptedCall]) -> None:
        self._calls = list(calls)
        self._replica = 0

    def StreamBook(self, request: Any, metadata: Any) -> ScriptedCall:
        return self._calls.pop(0)

    def market(self, address: str) -> ScriptedEngines:
        return self

    async def open(self, symbol: str, avoid: set[str], start: Any) -> tuple[str, Any]:
        self._replica += 1
        address = f"replica-{self._replica}"
        return address, start(address)


def direct(engines: ScriptedEngines) -> Subscribe:
    return lambda: direct_book(engines, (), "XYZ", 0)


def routed(engines: ScriptedEngines) -> Subscribe:
    return lambda: resuming_book(cast(Replicas, engines), (), "XYZ", 0)


async def follow(
    subscribe: Subscribe, books: int
) -> tuple[list[tuple[int, list[Decimal]]], StreamStats]:
    """The first ``books`` pictures the caller sees (seq, bid prices), and the stats."""
    stats = StreamStats()
    seen: list[tuple[int, list[Decimal]]] = []
    # A safety net only: a wrong loop would wait on the open stream for ever.
    async with asyncio.timeout(30):
        async with contextlib.aclosing(follow_book("XYZ", subscribe, stats)) as stream:
            async for book in stream:
                seen.append((book.seq, [level.price for level in book.bids()]))
                if len(seen) == books:
                    break
    return seen, stats


async def test_after_a_move_only_a_snapshot_rebuilds_the_book() -> None:
    """The replica taking over first sends an increment naming the old replica's last seq:
    it must not be applied to the old replica's picture (a gap, as on one engine)."""
    engines = ScriptedEngines(
        [
            ScriptedCall([snapshot(5, bid=100), increment(5, 6, bid=101)], dies=True),
            ScriptedCall([increment(6, 7, bid=102)]),
            ScriptedCall([snapshot(7, bid=99)]),
        ]
    )
    seen, stats = await follow(routed(engines), books=3)
    assert seen == [(5, [100]), (6, [101, 100]), (7, [99])]
    assert stats == StreamStats(messages=4, gaps=1, resyncs=2)


@pytest.mark.parametrize("transport", [direct, routed], ids=["direct", "routed"])
async def test_a_gap_resubscribes_alike_on_either_transport(
    transport: Callable[[ScriptedEngines], Subscribe],
) -> None:
    engines = ScriptedEngines(
        [
            ScriptedCall([snapshot(5, bid=100), increment(5, 6, bid=101), increment(8, 9, 98)]),
            ScriptedCall([snapshot(9, bid=97)]),
        ]
    )
    seen, stats = await follow(transport(engines), books=3)
    assert seen == [(5, [100]), (6, [101, 100]), (9, [97])]
    assert stats == StreamStats(messages=4, gaps=1, resyncs=1)
