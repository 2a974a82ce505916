"""Only the exchange's own processes make peer calls: everyone else gets UNAUTHENTICATED.

Measured before peer authentication existed, on the default plaintext cluster: a
process with no credentials registered a made-up engine (``rogue-9``) that discovery
then listed as live, re-registered as ``engine-0`` at another address (bumping the epoch
of every symbol it led), and pulled every account's orders with ``FetchLog`` and
``FetchSnapshot``. Here a real cluster (``cluster_harness``: discovery and three
engines sharing a peer secret, as ``dome up`` and the operator start them) gets each
peer call with no credentials, with a client's bearer token, with another exchange's
peer secret, and with this exchange's secret under the bearer scheme. Every one must
be refused UNAUTHENTICATED with nothing returned and nothing changed: the placement,
its epochs and version, the engine list and every replica's state stay as they were.
The peer secret, for its part, is no client token. With the right secret the same
calls work, so the refusals are about the credential and nothing else.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from cluster_harness import ACCOUNTS, Cluster, running_cluster, wait_for
from cluster_load import order_request, submit_with_retry

from dome.v1 import discovery_pb2 as ds
from dome.v1 import discovery_pb2_grpc as ds_grpc
from dome.v1 import replication_pb2 as rp
from dome.v1 import replication_pb2_grpc as rp_grpc
from dome.v1 import trading_pb2_grpc as tr_grpc

pytestmark = pytest.mark.timeout(180)
SYMBOLS = ("AAA-USD", "BBB-USD")
Metadata = tuple[tuple[str, str], ...]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("peer-auth"), 3, symbols=SYMBOLS) as running:
        # Something in every journal and book, so a leak would show.
        for n in range(6):
            submit_with_retry(running, order_request(SYMBOLS[n % 2], f"seed-{n}", n))
        for symbol in SYMBOLS:
            wait_for(lambda s=symbol: running.converged(s), 10, f"{symbol} converged")
        yield running


def _strangers(cluster: Cluster) -> dict[str, Metadata]:
    """Credentials that must not make a peer call, by what they are."""
    assert cluster.peer.secret is not None
    return {
        "none": (),
        "client bearer token": (("authorization", f"Bearer {ACCOUNTS['alice']}"),),
        "another exchange's peer secret": (("authorization", f"Peer {secrets.token_urlsafe(32)}"),),
        "a client token as the peer secret": (("authorization", f"Peer {ACCOUNTS['alice']}"),),
        "the peer secret as a bearer token": (("authorization", f"Bearer {cluster.peer.secret}"),),
    }


def _state(cluster: Cluster) -> dict[str, Any]:
    """What a refused call must not change: placement, engines and every replica."""
    placement = cluster.placement()
    return {
        "version": placement.version,
        "symbols": sorted(
            (s.symbol, s.epoch, s.primary, tuple(s.followers), tuple(s.in_sync))
            for s in placement.symbols
        ),
        "engines": sorted((e.engine_id, e.address, e.alive, e.draining) for e in placement.engines),
        "replicas": {
            engine.name: {
                symbol: (r.role, r.epoch, r.applied_seq, r.journaled_seq, r.state_hash)
                for symbol, r in (cluster.status(engine.name) or {}).items()
            }
            for engine in cluster.engines
        },
    }


def _peer_calls(cluster: Cluster) -> dict[str, Callable[[Metadata], list[Any]]]:
    """Each peer RPC, made the way an attacker would, returning what it answered."""
    discovery = ds_grpc.DiscoveryServiceStub(cluster.channel(cluster.discovery_address))
    symbol = SYMBOLS[0]
    placed = cluster.symbol_placement(symbol)
    primary = rp_grpc.ReplicationServiceStub(cluster.channel(cluster.address_of(placed.primary)))
    leader = placed.primary

    def unary(call: Any, request: Any) -> Callable[[Metadata], list[Any]]:
        return lambda metadata: [call(request, metadata=metadata, timeout=5)]

    def stream(call: Any, request: Any) -> Callable[[Metadata], list[Any]]:
        return lambda metadata: list(call(request, metadata=metadata, timeout=5))

    subscribe = rp.ReplicateRequest(
        subscribe=rp.ReplicateSubscribe(
            symbol=symbol, epoch=placed.epoch, follower_id=placed.followers[-1]
        )
    )
    # A forged follower: subscribe, then ack everything (acks are what commits entries).
    forged = [subscribe, rp.ReplicateRequest(ack=rp.ReplicateAck(journaled_seq=10**9))]
    return {
        "RegisterEngine rogue-9": unary(
            discovery.RegisterEngine,
            ds.RegisterEngineRequest(
                engine_id="rogue-9", address="127.0.0.1:1", incarnation=uuid.uuid4().hex
            ),
        ),
        f"RegisterEngine {leader} elsewhere": unary(
            discovery.RegisterEngine,
            ds.RegisterEngineRequest(
                engine_id=leader, address="127.0.0.1:2", incarnation=uuid.uuid4().hex
            ),
        ),
        "Heartbeat": unary(
            discovery.Heartbeat, ds.HeartbeatRequest(engine_id=leader, incarnation="guess")
        ),
        "UpdateInSync": unary(
            discovery.UpdateInSync,
            ds.UpdateInSyncRequest(
                symbol=symbol, epoch=placed.epoch, primary=leader, in_sync=[leader]
            ),
        ),
        "DrainEngine": unary(
            discovery.DrainEngine, ds.DrainEngineRequest(engine_id=leader, incarnation="guess")
        ),
        "Replicate": lambda metadata: list(
            primary.Replicate(iter(forged), metadata=metadata, timeout=5)
        ),
        "FetchLog": stream(primary.FetchLog, rp.FetchLogRequest(symbol=symbol, from_seq=1)),
        "FetchSnapshot": stream(primary.FetchSnapshot, rp.FetchSnapshotRequest(symbol=symbol)),
    }


def test_every_peer_call_from_a_stranger_is_refused_and_changes_nothing(
    cluster: Cluster,
) -> None:
    before = _state(cluster)
    calls = _peer_calls(cluster)
    assert len(calls) == 8
    problems: list[str] = []
    for who, metadata in _strangers(cluster).items():
        for name, call in calls.items():
            try:
                answer = call(metadata)
            except grpc.RpcError as exc:
                error: Any = exc
                if error.code() != grpc.StatusCode.UNAUTHENTICATED or "peer" not in str(
                    error.details()
                ):
                    problems.append(f"{name} with {who}: {error.code().name} {error.details()}")
            else:
                problems.append(f"{name} with {who}: answered {len(answer)} message(s)")
    assert problems == [], "\n".join(problems)
    listed = ds_grpc.DiscoveryServiceStub(cluster.channel(cluster.discovery_address)).ListEngines(
        ds.ListEnginesRequest(), timeout=5
    )
    assert sorted(e.engine_id for e in listed.engines) == ["engine-0", "engine-1", "engine-2"]
    assert _state(cluster) == before


def test_the_peer_secret_opens_the_same_calls(cluster: Cluster) -> None:
    """The control: refusals above are about the credential, not the requests."""
    symbol = SYMBOLS[0]
    placed = cluster.symbol_placement(symbol)
    primary = rp_grpc.ReplicationServiceStub(cluster.channel(cluster.address_of(placed.primary)))
    peer = cluster.peer.metadata
    log = list(primary.FetchLog(rp.FetchLogRequest(symbol=symbol, from_seq=1), metadata=peer))
    assert sum(len(part.batches) for part in log) > 0
    snapshot = list(primary.FetchSnapshot(rp.FetchSnapshotRequest(symbol=symbol), metadata=peer))
    assert snapshot
    assert snapshot[-1].last
    discovery = ds_grpc.DiscoveryServiceStub(cluster.channel(cluster.discovery_address))
    with pytest.raises(grpc.RpcError) as unknown:
        discovery.Heartbeat(
            ds.HeartbeatRequest(engine_id="rogue-9", incarnation="x"), metadata=peer, timeout=5
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    # Public reads need nothing: clients route by placement, `dome check` reads status.
    assert cluster.placement().symbols
    assert cluster.status(placed.primary)


def test_the_peer_secret_is_no_client_token(cluster: Cluster) -> None:
    symbol = SYMBOLS[1]
    primary = cluster.address_of(cluster.primary(symbol))
    trading = tr_grpc.TradingServiceStub(cluster.channel(primary))
    before = cluster.converged(symbol)
    for metadata in (
        (("authorization", f"Bearer {cluster.peer.secret}"),),
        (("authorization", f"Peer {cluster.peer.secret}"),),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            trading.SubmitOrder(order_request(symbol, "peer-as-client", 1), metadata=metadata)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert cluster.converged(symbol) == before
