"""A primary whose lease lapses while a batch waits for acks, then comes back.

The batch was journaled and shipped before the lapse, so it may still commit: its
submitters hear UNAVAILABLE (their retries under the same client order id will find it),
the next batch takes the next sequence numbers, and when that one commits the earlier
one is applied first, exactly as followers apply them. Before this was handled the next
batch reused the sequence numbers and the symbol stopped taking orders for good.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dome.core.instrument import Instrument
from dome.core.market import Market
from dome.core.reference import ReferenceBook
from dome.core.types import OrderType, SelfTradePrevention, Side
from dome.engine.applier import Applier
from dome.engine.errors import Unavailable
from dome.engine.peers import Peers
from dome.engine.replica import Replica, Role
from dome.engine.requests import PlaceRequest
from dome.engine.sequencer import Sequencer
from dome.log.journal import Journal
from dome.v1 import discovery_pb2 as ds


class Lease:
    def __init__(self) -> None:
        self.valid = True

    def lease_valid(self) -> bool:
        return self.valid

    def poke(self) -> None:
        pass

    async def update_in_sync(self, symbol: str, epoch: int, in_sync: list[str]) -> bool:
        return True


def place(coid: str, price: int) -> PlaceRequest:
    return PlaceRequest(
        "alice", coid, Side.BUY, OrderType.LIMIT, price, 1, SelfTradePrevention.CANCEL_RESTING
    )


async def test_a_batch_that_outlived_the_lease_commits_with_the_next_one(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "journal")
    market = Market(ReferenceBook(Instrument("XYZ")))
    applier = Applier(market)
    sequencer = Sequencer(applier)
    lease = Lease()
    replica = Replica(
        engine_id="me",
        symbol="XYZ",
        journal=journal,
        applier=applier,
        coordinator=lease,
        peers=Peers(),
    )
    sequencer.attach_log(replica)
    replica.on_placement(
        ds.SymbolPlacement(
            symbol="XYZ", epoch=1, primary="me", followers=["f"], in_sync=["me", "f"]
        ),
        "all",
    )
    assert replica.role is Role.PRIMARY
    follower, _ = replica.open_session("f", 0)
    task = asyncio.create_task(sequencer.run())
    try:
        first = sequencer.submit_batch([place("a-1", 100)])
        async with asyncio.timeout(5):
            shipped = await follower.take()  # journaled and shipped, waiting for the ack
        assert [m.WhichOneof("kind") for m in shipped] == ["batch"]
        lease.valid = False
        with pytest.raises(Unavailable):
            await asyncio.wait_for(first, 5)
        assert (journal.last_seq, market.last_seq) == (1, 0)

        lease.valid = True
        second = sequencer.submit_batch([place("a-2", 101)])
        async with asyncio.timeout(5):
            shipped = await follower.take()
        assert [m.WhichOneof("kind") for m in shipped] == ["batch"]
        replica.on_ack(follower, 2)
        (applied,) = await asyncio.wait_for(second, 5)
        assert applied.cmd.seq == 2
        assert market.last_seq == 2
        assert {o.client_order_id for o in market.book.orders()} == {"a-1", "a-2"}
        assert market.is_known("alice", "a-1")  # a retry of a-1 finds the original
    finally:
        sequencer.close()
        await task
        await replica.close()
        journal.close()
