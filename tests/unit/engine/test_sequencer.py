"""The sequencer stage: batching, stamping, and halting on a broken book."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from dome.core.commands import Command, NewOrder
from dome.core.instrument import Instrument
from dome.core.market import Market
from dome.core.reference import ReferenceBook
from dome.core.types import OrderType, SelfTradePrevention, Side
from dome.engine.applier import Applied, Applier
from dome.engine.errors import Overloaded, Unavailable
from dome.engine.requests import CancelRequest, PlaceRequest
from dome.engine.sequencer import Sequencer


def place(account: str, price: int, coid: str = "") -> PlaceRequest:
    return PlaceRequest(
        account, coid, Side.BUY, OrderType.LIMIT, price, 1, SelfTradePrevention.CANCEL_RESTING
    )


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[Command]] = []

    def __call__(self, batch: Sequence[Applied], match_seconds: float | None) -> None:
        self.batches.append([a.cmd for a in batch])


async def test_requests_arriving_together_form_one_batch() -> None:
    recorder = Recorder()
    clock = iter([1_000, 900, 2_000])  # the clock steps back once: stamps must not
    seq = Sequencer(
        Applier(Market(ReferenceBook(Instrument("XYZ"))), [recorder]),
        clock_ns=lambda: next(clock),
    )
    task = asyncio.create_task(seq.run())

    async def client(account: str, price: int) -> Applied:
        (future,) = seq.submit([place(account, price)])
        return await future

    first = await asyncio.gather(*(client(a, p) for a, p in [("a", 10), ("b", 11), ("c", 12)]))
    second = await asyncio.gather(client("a", 13))
    later = seq.submit([place("a", 14), CancelRequest("a", 1)])
    await asyncio.gather(*later)

    assert [len(b) for b in recorder.batches] == [3, 1, 2]
    assert [a.cmd.seq for a in first] == [1, 2, 3]
    commands = [c for b in recorder.batches for c in b]
    assert [c.seq for c in commands] == [1, 2, 3, 4, 5, 6]
    assert [c.timestamp_ns for c in commands] == [1_000] * 4 + [2_000] * 2
    assert all(c.order_id == c.seq for c in commands if isinstance(c, NewOrder))
    assert second[0].cmd.seq == 4
    seq.close()
    await task


async def test_full_inbox_refuses_whole_request_list() -> None:
    seq = Sequencer(Applier(Market(ReferenceBook(Instrument("XYZ"))), [Recorder()]), max_pending=2)
    seq.submit([place("a", 10)])
    with pytest.raises(Overloaded):
        seq.submit([place("a", 11), place("a", 12)])
    seq.close()
    await seq.run()


async def test_one_account_cannot_hold_more_than_its_share() -> None:
    seq = Sequencer(
        Applier(Market(ReferenceBook(Instrument("XYZ"))), [Recorder()]),
        max_pending_per_account=3,
    )
    seq.submit([place("flood", 10), place("flood", 11)])
    with pytest.raises(Overloaded, match="'flood' has 2 commands pending"):
        seq.submit([place("flood", 12), place("flood", 13)])
    # Another account is not refused for the flood's backlog.
    (quiet,) = seq.submit([place("quiet", 14), place("quiet", 15), place("quiet", 16)])[:1]
    task = asyncio.create_task(seq.run())
    await quiet
    # Once applied, the flood's commands no longer count against it.
    await asyncio.gather(*seq.submit([place("flood", 17), place("flood", 18), place("flood", 19)]))
    seq.close()
    await task


async def test_a_batch_takes_every_waiting_account_in_turn() -> None:
    recorder = Recorder()
    seq = Sequencer(Applier(Market(ReferenceBook(Instrument("XYZ"))), [recorder]), max_batch=4)
    flood = [seq.submit_batch([place("flood", 10 + i) for i in range(5)]) for _ in range(2)]
    quiet = seq.submit_batch([place("quiet", 50)])
    task = asyncio.create_task(seq.run())
    (answer,) = await quiet
    # Quiet went into the first batch beside the flood's share (half of 4), not behind
    # the flood's ten commands.
    assert [c.account for c in recorder.batches[0]] == ["flood", "flood", "quiet"]
    assert answer.cmd.seq == 3
    results = [await f for f in flood]
    # Each account's commands keep their order; every command was applied exactly once.
    flood_seqs = [a.cmd.seq for batch in results for a in batch]
    assert flood_seqs == sorted(flood_seqs)
    assert [a.cmd.price for batch in results for a in batch] == [10 + i for i in range(5)] * 2
    assert sorted(c.seq for b in recorder.batches for c in b) == list(range(1, 12))
    assert all(len(b) <= 4 for b in recorder.batches)
    seq.close()
    await task


class BrokenBook(ReferenceBook):
    def place(self, cmd: NewOrder) -> list:  # type: ignore[type-arg]
        if cmd.price == 13:
            raise RuntimeError("bug")
        return super().place(cmd)


async def test_a_failing_book_halts_the_symbol() -> None:
    seq = Sequencer(Applier(Market(BrokenBook(Instrument("XYZ"))), [Recorder()]))
    task = asyncio.create_task(seq.run())
    futures = seq.submit([place("a", 12), place("a", 13), place("a", 14)])
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert isinstance(results[0], Applied)
    assert isinstance(results[1], Unavailable)
    assert isinstance(results[2], Unavailable)
    with pytest.raises(Unavailable):
        seq.submit([place("a", 15)])
    seq.close()
    await task


class TimedRecorder:
    def __init__(self) -> None:
        self.timings: list[float | None] = []

    def __call__(self, batch: Sequence[Applied], match_seconds: float | None) -> None:
        self.timings.append(match_seconds)


async def test_only_batches_this_engine_sequenced_are_timed_and_counted() -> None:
    """A follower's (or recovery's) batches are published without a match time.

    The node counts orders and trades only for timed batches: counting replayed ones too
    would multiply every sum over a cluster's engines by the replication factor.
    """
    recorder = TimedRecorder()
    market = Market(ReferenceBook(Instrument("XYZ")))
    seq = Sequencer(Applier(market, [recorder]), clock_ns=lambda: 5)
    stamped = [NewOrder(1, 5, 1, "a", "", Side.BUY, OrderType.LIMIT, 10, 1)]
    seq.applier.apply(stamped, sequenced=False)
    task = asyncio.create_task(seq.run())
    (future,) = seq.submit([place("a", 11)])
    applied = await future
    seq.close()
    await task
    assert applied.cmd.seq == 2  # sequencing continues after the replicated entry
    assert recorder.timings[0] is None
    assert isinstance(recorder.timings[1], float)
