"""Replication on the engines' peer port; the client port refuses it; upgrades keep working.

A cluster whose engines have peer ports (``--peer-port``) must form, trade and converge
with every replication stream on the peer ports; the placement names each engine's peer
address. On a client port, ``Replicate``, ``FetchLog`` and ``FetchSnapshot`` answer
UNIMPLEMENTED, even with the peer secret, and change nothing; ``GetReplicaStatus`` (a
public read) answers on both ports.

The rolling upgrade: one engine runs the code from before peer ports (the parent of the
commit that added ``peer_address`` to discovery.proto, from git), two run this code with
peer ports. New followers replicate from the old engine through its client address, and
the old engine follows the new ones through theirs, which keep serving replication there
while it lives; once it is gone, their client ports refuse replication.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from cluster_harness import DOME, Cluster, running_cluster, wait_for
from cluster_load import order_request, submit_with_retry

from dome.v1 import replication_pb2 as rp
from dome.v1 import replication_pb2_grpc as rp_grpc

pytestmark = pytest.mark.timeout(240)
SYMBOLS = ("AAA-USD", "BBB-USD", "CCC-USD")
REPO = Path(__file__).resolve().parents[2]


def _seed(cluster: Cluster, prefix: str) -> None:
    for n in range(9):
        submit_with_retry(cluster, order_request(SYMBOLS[n % 3], f"{prefix}-{n}", n))
    for symbol in SYMBOLS:
        hashes = wait_for(lambda s=symbol: cluster.converged(s), 15, f"{symbol} converged")
        assert len(set(hashes.values())) == 1


def _replication_calls(cluster: Cluster, address: str) -> dict[str, Any]:
    """Each peer-port method at ``address``, with the peer secret; what it answered."""
    stub = rp_grpc.ReplicationServiceStub(cluster.channel(address))
    symbol = SYMBOLS[0]
    placed = cluster.symbol_placement(symbol)
    peer = cluster.peer.metadata
    subscribe = rp.ReplicateRequest(
        subscribe=rp.ReplicateSubscribe(symbol=symbol, epoch=placed.epoch, follower_id="x")
    )
    calls = {
        "Replicate": lambda: list(stub.Replicate(iter([subscribe]), metadata=peer, timeout=5)),
        "FetchLog": lambda: list(
            stub.FetchLog(rp.FetchLogRequest(symbol=symbol, from_seq=1), metadata=peer, timeout=5)
        ),
        "FetchSnapshot": lambda: list(
            stub.FetchSnapshot(rp.FetchSnapshotRequest(symbol=symbol), metadata=peer, timeout=5)
        ),
    }
    answers: dict[str, Any] = {}
    for name, call in calls.items():
        try:
            answers[name] = call()
        except grpc.RpcError as exc:
            error: Any = exc
            answers[name] = error.code()
    return answers


def _replicas(cluster: Cluster) -> dict[str, Any]:
    return {
        e.name: {
            s: (r.role, r.epoch, r.applied_seq) for s, r in (cluster.status(e.name) or {}).items()
        }
        for e in cluster.engines
        if e.alive()
    }


def test_replication_runs_on_peer_ports_and_not_on_client_ports(tmp_path: Path) -> None:
    with running_cluster(tmp_path, 3, symbols=SYMBOLS, peer_ports=True) as cluster:
        _seed(cluster, "seed")
        engines = {e.engine_id: e for e in cluster.placement().engines}
        for proc in cluster.engines:
            assert proc.info["peer"]
            assert proc.info["peer"] != proc.address
            assert engines[proc.name].peer_address == proc.info["peer"]
            assert engines[proc.name].address == proc.address
            # The public read answers on both ports.
            for address in (proc.address, proc.peer_address):
                stub = rp_grpc.ReplicationServiceStub(cluster.channel(address))
                reply = stub.GetReplicaStatus(rp.GetReplicaStatusRequest(), timeout=5)
                assert sorted(r.symbol for r in reply.replicas) == sorted(SYMBOLS)

        primary = cluster.engine(cluster.primary(SYMBOLS[0]))
        before = (_replicas(cluster), cluster.placement().version)
        refused = _replication_calls(cluster, primary.address)
        assert refused == dict.fromkeys(refused, grpc.StatusCode.UNIMPLEMENTED)
        assert (_replicas(cluster), cluster.placement().version) == before
        served = _replication_calls(cluster, primary.peer_address)
        assert sum(len(part.batches) for part in served["FetchLog"]) > 0
        assert served["FetchSnapshot"][-1].last

        # The followers' sessions are on the peer port: a failover and more orders still
        # converge, every replica applying through it.
        primary.kill()
        _seed(cluster, "after-failover")


def _old_source(tmp_path: Path) -> Path:
    """The source tree of the last commit before peer ports, or skip saying why."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and this repository's history for the older version")
    added = subprocess.run(
        ["git", "log", "--format=%H", "-S", "peer_address", "--", "proto/dome/v1/discovery.proto"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    if not added:
        pytest.skip("peer_address is not committed yet: no older version to compare with")
    old = tmp_path / "old"
    old.mkdir()
    archive = subprocess.run(
        ["git", "archive", f"{added[-1]}^", "src"], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    return old / "src"


def test_a_mixed_version_exchange_keeps_replicating(tmp_path: Path) -> None:
    old_src = _old_source(tmp_path)
    run_old = [
        sys.executable,
        "-c",
        f"import sys; sys.path.insert(0, {str(old_src)!r}); from dome.cli import main; main()",
    ]
    with running_cluster(
        tmp_path / "cluster",
        3,
        symbols=SYMBOLS,
        peer_ports=True,
        engine_command=lambda i: run_old if i == 0 else [DOME],
    ) as cluster:
        old = cluster.engines[0]
        assert "peer" not in old.info  # the old ready file has no such field
        engines = {e.engine_id: e for e in cluster.placement().engines}
        assert engines["engine-0"].peer_address == ""
        assert engines["engine-1"].peer_address == cluster.engines[1].info["peer"]
        # Primaries spread over old and new: every direction of replication is exercised.
        _seed(cluster, "mixed")
        leaders = {cluster.primary(s) for s in SYMBOLS}
        assert len(leaders) == 3, leaders
        # While the old engine lives, new engines serve replication on their client port.
        new = cluster.engines[1]
        served = _replication_calls(cluster, new.address)
        assert isinstance(served["FetchLog"], list)

        # Upgraded (here: gone); its lease lapses and the client ports close to replication.
        old.stop()

        def refused() -> bool:
            calls = _replication_calls(cluster, new.address)
            return calls == dict.fromkeys(calls, grpc.StatusCode.UNIMPLEMENTED)

        wait_for(refused, 20, "client port refuses replication once no engine lacks a peer port")
        _seed(cluster, "upgraded")
