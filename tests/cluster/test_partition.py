"""R3: isolate the old primary with a real network partition, then heal it.

Engines run in network namespaces (``netns.py``); pulling one engine's cable cuts it off
from discovery, its peers and the clients at once. While cut off, the old primary's
lease lapses, so it stops taking writes, and discovery promotes an in-sync follower
under a new epoch. After healing, the old primary must come back as a follower that
dropped whatever it journaled but never committed: every replica's log is then the
same, batch for batch, and every acknowledged order is there exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from cluster_harness import Cluster, running_cluster, wait_for
from cluster_load import Load
from netns import engine_network, unavailable

from dome.log.entries import decode_batch
from dome.v1 import replication_pb2 as rp
from dome.v1 import replication_pb2_grpc as rp_grpc

REASON = unavailable()
pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(REASON is not None, reason=f"no network namespaces: {REASON}"),
]


def _first_held(cluster: Cluster, symbol: str) -> int:
    """The first sequence number every replica's journal still holds.

    A replica that rejoined through a snapshot holds its journal only from the
    snapshot on; below that, its state hash (checked above) speaks for it.
    """
    firsts = []
    for e in cluster.engines:
        status = cluster.status(e.name)
        assert status, f"{e.name} did not answer GetReplicaStatus"
        firsts.append(status[symbol].first_seq)
    return max(firsts)


def test_isolated_primary_is_fenced_and_its_log_converges(tmp_path: Path) -> None:
    symbol = "AAA-USD"
    with (
        engine_network(3) as net,
        running_cluster(
            tmp_path,
            3,
            symbols=(symbol,),
            netns=net.prefix,
            engine_host=net.engine_ip,
            discovery_host=net.bridge_ip,
        ) as cluster,
    ):
        load = Load(cluster, symbol, "r3").start()
        wait_for(lambda: load.sent > 100, 30, "orders flowing")
        old = cluster.primary(symbol)
        old_epoch = cluster.symbol_placement(symbol).epoch
        index = int(old.rsplit("-", 1)[1])
        cut_at = time.monotonic()
        net.cut(index)
        wait_for(lambda: load.acks_after(cut_at, old) > 50, 30, "acks from a new primary")
        sp = cluster.symbol_placement(symbol)
        assert sp.primary != old, sp
        assert sp.epoch > old_epoch, sp
        net.heal(index)

        def rejoined() -> bool:
            status = cluster.status(old)
            return (
                bool(status)
                and status[symbol].epoch == cluster.symbol_placement(symbol).epoch
                and status[symbol].role == rp.REPLICA_ROLE_FOLLOWER
            )

        wait_for(rejoined, 20, f"{old} back as a follower")
        load.stop()
        load.verify()
        hashes = wait_for(lambda: cluster.converged(symbol), 15, "replicas converged")
        assert len(set(hashes.values())) == 1, hashes

        # No log diverges: every replica holds the same batches, byte for byte, over the
        # range they all hold (the whole log, unless one rejoined through a snapshot).
        start = _first_held(cluster, symbol)
        journals = {e.name: cluster.journal(e.name, symbol, start) for e in cluster.engines}
        reference = journals[sp.primary]
        for engine_id, batches in journals.items():
            assert batches == reference, f"{engine_id}'s journal differs from the primary's"
        # At most one primary per epoch acknowledged: epochs only grow along the log,
        # and the old epoch ends before the new one starts.
        epochs = [decode_batch(b).epoch for b in reference]
        assert epochs == sorted(epochs)
        # The old epoch's primary no longer takes subscriptions as primary.
        stub = rp_grpc.ReplicationServiceStub(cluster.channel(cluster.address_of(old)))
        subscribe = rp.ReplicateRequest(
            subscribe=rp.ReplicateSubscribe(symbol=symbol, epoch=old_epoch, follower_id="x")
        )
        call = stub.Replicate(iter([subscribe]), timeout=5, metadata=cluster.peer.metadata)
        with pytest.raises(grpc.RpcError) as refused:
            next(iter(call))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
