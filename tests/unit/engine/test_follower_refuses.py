"""A follower refuses a replication entry with a gap or from a newer epoch than its own.

The primary here is a stand-in gRPC server that misbehaves on purpose; the follower is a
real ``Replica`` with a real journal. A refused entry is counted, logged and never
journaled or applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from dome.core.commands import NewOrder
from dome.core.instrument import Instrument
from dome.core.market import Market
from dome.core.reference import ReferenceBook
from dome.core.types import OrderType, Side
from dome.engine.applier import Applier
from dome.engine.peers import Peers
from dome.engine.replica import Replica, Role
from dome.log.entries import encode_batch
from dome.log.journal import Journal
from dome.v1 import discovery_pb2 as ds
from dome.v1 import replication_pb2 as rp
from dome.v1 import replication_pb2_grpc as rp_grpc


class DiscoveryLink:
    def lease_valid(self) -> bool:
        return True

    def poke(self) -> None:
        pass

    async def update_in_sync(self, symbol: str, epoch: int, in_sync: list[str]) -> bool:
        return True


class Stats:
    def __init__(self) -> None:
        self.refused = 0
        self.refused_twice = asyncio.Event()

    def observe_role(self, role: str, epoch: int) -> None:
        pass

    def observe_commit(self, seconds: float, lag: int) -> None:
        pass

    def observe_refused(self) -> None:
        self.refused += 1
        if self.refused >= 2:  # refused, reconnected, refused again
            self.refused_twice.set()


def order(seq: int) -> NewOrder:
    return NewOrder(seq, 7, seq, "a", "", Side.BUY, OrderType.LIMIT, 100, 1)


class BadPrimary(rp_grpc.ReplicationServiceServicer):
    """Answers every subscribe with one batch that the follower must refuse."""

    def __init__(self, batch: bytes) -> None:
        self.batch = batch
        self.subscribes = 0

    async def Replicate(  # type: ignore[override]
        self, request_iterator: AsyncIterator[rp.ReplicateRequest], context: Any
    ) -> AsyncIterator[rp.ReplicateResponse]:
        async for _ in request_iterator:
            self.subscribes += 1
            yield rp.ReplicateResponse(start=rp.ReplicateStart(epoch=2))
            yield rp.ReplicateResponse(batch=self.batch)
            return


@pytest.mark.parametrize(
    ("why", "batch"),
    [
        ("gap", encode_batch("XYZ", 2, [order(5)], 0)),
        ("epoch above the stream's", encode_batch("XYZ", 9, [order(1)], 0)),
        ("another symbol", encode_batch("ABC", 2, [order(1)], 0)),
        ("not a batch", b"\xff\x00junk"),
    ],
)
async def test_refused_entries_are_counted_and_never_journaled(
    tmp_path: Path, why: str, batch: bytes
) -> None:
    primary = BadPrimary(batch)
    server = grpc.aio.server()
    rp_grpc.add_ReplicationServiceServicer_to_server(primary, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    journal = Journal.open(tmp_path / "journal")
    market = Market(ReferenceBook(Instrument("XYZ")))
    stats = Stats()
    peers = Peers()
    peers.update({"engine-p": f"127.0.0.1:{port}"})
    replica = Replica(
        engine_id="engine-f",
        symbol="XYZ",
        journal=journal,
        applier=Applier(market),
        coordinator=DiscoveryLink(),
        peers=peers,
        stats=stats,
    )
    try:
        replica.on_placement(
            ds.SymbolPlacement(symbol="XYZ", epoch=2, primary="engine-p", followers=["engine-f"]),
            "all",
        )
        assert replica.role is Role.FOLLOWER
        async with asyncio.timeout(10):
            await stats.refused_twice.wait()
        assert primary.subscribes >= 2
        assert journal.last_seq == 0, why
        assert market.last_seq == 0, why
    finally:
        await replica.close()
        journal.close()
        await peers.close()
        await server.stop(None)
