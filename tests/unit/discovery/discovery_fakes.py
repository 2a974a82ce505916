"""Engines as discovery sees them: a DiscoveryAgent plus the reports a replica would send."""

from __future__ import annotations

from typing import TypeVar

from dome.discovery.agent import DiscoveryAgent
from dome.peer_auth import PeerAuth
from dome.v1 import discovery_pb2 as pb
from waiting import eventually

T = TypeVar("T")

#: The peer secret of the discoveries these engines register with.
PEER = PeerAuth("discovery-fakes-peer-secret")


class FakeEngine:
    """Reports, for every symbol it replicates, the newest epoch it saw and ``seq[symbol]``.

    Like a real replica it heartbeats at once when the placement changes.
    """

    def __init__(self, discovery: str, engine_id: str, seq: int = 0) -> None:
        self.engine_id = engine_id
        self.default_seq = seq
        self.seq: dict[str, int] = {}
        self.placements: list[pb.Placement] = []
        self.agent = DiscoveryAgent(
            discovery,
            engine_id,
            f"{engine_id}.local:7100",
            f"http://{engine_id}.local:9100/metrics",
            self.reports,
            self.on_placement,
            call_timeout=0.5,
            metadata=PEER.metadata,
        )

    def reports(self) -> list[pb.ReplicaReport]:
        placement = self.agent.current_placement
        if placement is None:
            return []
        return [
            pb.ReplicaReport(
                symbol=s.symbol,
                epoch=s.epoch,
                journaled_seq=self.seq.get(s.symbol, self.default_seq),
                writable=s.primary == self.engine_id,
            )
            for s in placement.symbols
            if self.engine_id == s.primary or self.engine_id in s.followers
        ]

    def on_placement(self, placement: pb.Placement) -> None:
        self.placements.append(placement)
        self.agent.poke()


def primaries(placement: pb.Placement | None) -> dict[str, str]:
    return {} if placement is None else {s.symbol: s.primary for s in placement.symbols}


async def full_placement(engine: FakeEngine, symbols: int, within: float = 5.0) -> pb.Placement:
    """The first placement ``engine`` receives that places all ``symbols`` symbols."""

    def complete() -> pb.Placement | None:
        placement = engine.agent.current_placement
        if placement is not None and len(primaries(placement)) == symbols:
            return placement
        return None

    return await eventually(complete, within, "the first placement")
