"""The pods the operator renders, run for real on localhost, form a working exchange.

The example Exchange (examples/k8s/exchange.yaml: three engines, every symbol on all
three, acks ``all``) goes through the operator's pure ``render``. The discovery
Deployment's and the engine StatefulSet's containers are then started as real
``dome discovery`` and ``dome engine`` processes from their own ``command``, ``args`` and
``env`` (local_pods.py), all at once as Kubernetes starts them. Discovery runs with the
rendered ``--store kubernetes``: its Leases live in the repo's Kubernetes emulator
(kube_emulator.py, which keeps ``resourceVersion`` and answers a stale replace with 409),
reached over HTTPS the way an in-cluster client reaches the API server. The test then
trades: every symbol gets a primary, a sell placed through one engine and a crossing buy
through another make a trade, and a third engine shows the same book; all three replicas
report the same state hash.

Only what a pod provides and a shared localhost cannot is translated:

========================  ========================================  ========================
In the pod                Here                                      Why
========================  ========================================  ========================
image ``dome:TAG``,       this checkout's ``dome`` (the virtualenv  the image packages this
``command: [dome]``       next to the test's Python)                code
``$(POD_NAME)`` in args   expanded from the container's env, as     the kubelet expands it
                          the kubelet does (``$$`` a literal $)
env from ``fieldRef``     the pod's name (``demo-engine-0..2``) or  the downward API
``metadata.name``         namespace
(every pod)               ``KUBERNETES_SERVICE_HOST``/``_PORT``:    the kubelet sets them
                          the emulator's 127.0.0.1 and port
automounted service-      a temp directory (``token``, the          the kubelet mounts it
account token (the        emulator's ``ca.crt``, ``namespace``)     at /var/run/secrets/...,
discovery pod only)       named by ``DOME_SERVICE_ACCOUNT_DIR``,    which a test cannot
                          read by ``KubernetesStore.in_cluster``    write
instruments ConfigMap     a temp directory with the rendered        volume mounts; paths
volume (mountPath         ConfigMap's items; command-line paths     under a mountPath are
/etc/dome/instruments)    under the mountPath point into it         rewritten
accounts Secret volume    a temp directory with the example         the Secret is the
(/etc/dome/accounts)      Secret's items (examples/k8s/accounts-    user's, not rendered
                          secret.yaml), in the volume's mode
peer Secret volume        a temp directory with the rendered        the operator's apply
(/etc/dome/peer)          Secret filled as the apply step fills it  step creates it once
                          (``manifests.with_generated_values``)     with a random value
``data`` claim template   one temp directory per engine pod         a PersistentVolume
(/var/lib/dome)
``tmp`` emptyDir (/tmp)   a temp directory per pod (no argument     scratch space
                          names it)
``--port 7100``/``7000``  a free port per pod and port name         one IP per pod; on one
``--metrics-port 9100``                                             host they would collide
``$(POD_NAME).demo-       ``127.0.0.1:<that engine's port>``,       cluster DNS for the
engine-headless.trading.  resolved through the headless Service's   headless Service
svc:7100``                targetPort
``demo-discovery.         ``127.0.0.1:<a balancer's port>``, which  a ClusterIP Service
trading.svc:7000``        spreads connections over both discovery   with two pods behind
                          replicas' ports (tcp_balancer.py)         it (kube-proxy)
env from ``fieldRef``     ``127.0.0.1``                             the pod's IP: every
``status.podIP``                                                    pod shares loopback
========================  ========================================  ========================

Everything else is as rendered (``--host 0.0.0.0`` included). Not reproduced: the
securityContext, resources, the NetworkPolicy and topology spread; the probes are
replaced by polling the same gRPC health services they call, on the plaintext
health port. Everything waits on a
condition with a deadline; the processes are stopped with SIGTERM, then SIGKILL, and on
failure each one's command line and log are printed.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from local_pods import ApiServer, LocalPod, local_pods, tls_api_server
from operator_helpers import EXAMPLES, as_admitted, load_yaml
from tcp_balancer import TcpBalancer

from dome.discovery.kube_store import ANNOTATION, lease_name
from dome.v1 import common_pb2 as pb
from dome.v1 import discovery_pb2 as ds
from dome.v1 import discovery_pb2_grpc as ds_grpc
from dome.v1 import market_data_pb2 as md
from dome.v1 import market_data_pb2_grpc as md_grpc
from dome.v1 import replication_pb2 as rp
from dome.v1 import replication_pb2_grpc as rp_grpc
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc
from dome_operator import render
from dome_operator.manifests import generated_keys, with_generated_values

pytestmark = pytest.mark.timeout(180)

T = TypeVar("T")
EXCHANGE = EXAMPLES / "exchange.yaml"
ACCOUNTS_SECRET = EXAMPLES / "accounts-secret.yaml"
#: Started together, engines register as discovery comes up; placement follows.
START_SECONDS = 60.0
CALL_SECONDS = 5.0
#: HTTP methods of the Lease store -> the RBAC verbs they need.
VERBS = {"GET": "get", "POST": "create", "PUT": "update"}
PRICE = Decimal("100.00")


class Channels:
    """One gRPC channel per local address, closed together."""

    def __init__(self) -> None:
        self._open: dict[str, grpc.aio.Channel] = {}

    def __call__(self, address: str) -> grpc.aio.Channel:
        if address not in self._open:
            self._open[address] = grpc.aio.insecure_channel(address)
        return self._open[address]

    async def close(self) -> None:
        await asyncio.gather(*(channel.close(None) for channel in self._open.values()))


async def until(
    probe: Callable[[], Awaitable[T | None]],
    what: str,
    pods: Iterable[LocalPod],
    within: float = 15.0,
) -> T:
    """Await ``probe`` until it returns something truthy; fail after ``within`` seconds,
    or at once when one of ``pods`` has exited."""
    pods = list(pods)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        for pod in pods:
            pod.check_alive()
        try:
            result = await probe()
        except grpc.aio.AioRpcError:
            result = None
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)  # a polling interval; the deadline bounds the wait


def _role_verbs(
    objects: list[dict[str, Any]],
    role_name: str,
    group: str = "coordination.k8s.io",
    plural: str = "leases",
    name: str | None = None,
) -> set[str]:
    """The verbs the rendered Role grants on ``plural`` (on the object ``name``)."""
    (role,) = [o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == role_name]
    return {
        verb
        for rule in role["rules"]
        if group in rule["apiGroups"]
        and plural in rule["resources"]
        and ("resourceNames" not in rule or name in rule["resourceNames"])
        for verb in rule["verbs"]
    }


def _metrics_answer(pod: LocalPod) -> bool:
    url = f"http://127.0.0.1:{pod.ports['metrics']}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=CALL_SECONDS) as response:
            return response.status == 200 and b"# TYPE" in response.read()
    except OSError:
        return False


async def test_the_rendered_pods_form_an_exchange_that_takes_and_matches_orders(
    tmp_path: Path,
) -> None:
    exchange = as_admitted(load_yaml(EXCHANGE))
    spec = exchange["spec"]
    assert (spec["engines"], spec["replication"]["factor"]) == (3, 3), "the case this test runs"
    namespace, name = exchange["metadata"]["namespace"], exchange["metadata"]["name"]
    symbols = sorted(item["symbol"] for item in spec["instruments"])
    secret = load_yaml(ACCOUNTS_SECRET)
    assert secret["metadata"]["name"] == spec["auth"]["accountsSecret"]
    # The Secret holds hashes; the example's tokens are its client-side file.
    tokens: dict[str, str] = json.loads((EXAMPLES / "tokens.json").read_text())
    objects = render(exchange, operator_namespace="dome-system")

    async with tls_api_server(tmp_path / "apiserver") as api:
        # Configuration first, as the operator's apply step creates it before workloads.
        for config_map in (o for o in objects if o["kind"] == "ConfigMap"):
            api.emulator.put("v1/configmaps", config_map)
        # The peer Secret as the operator's apply step creates it: with a random value.
        generated = [with_generated_values(o) for o in objects if generated_keys(o)]
        balancers: list[TcpBalancer] = []

        def balance(service: Any, port_name: str, ports: list[int]) -> str:
            balancers.append(TcpBalancer(lambda: ports, service["metadata"]["name"]))
            return balancers[-1].address

        pods = local_pods(
            objects, secrets=[secret, *generated], api=api, root=tmp_path, balance=balance
        )
        replicas = [pod for pod in pods.values() if pod.component == "discovery"]
        assert len(replicas) == 2, "spec.discovery.replicas defaults to 2"
        engines = [pod for pod in pods.values() if pod.component == "engine"]
        assert [pod.name for pod in engines] == [f"{name}-engine-{i}" for i in range(3)]
        channels = Channels()
        traded = False
        try:
            for pod in pods.values():
                pod.start()
            await _trade(api, (name, namespace), replicas, engines, symbols, tokens, channels)
            traded = True
        finally:
            await channels.close()
            await asyncio.gather(*(pod.stop() for pod in engines))
            await asyncio.gather(*(pod.stop() for pod in replicas))
            for balancer in balancers:
                balancer.close()
            if not traded:
                for pod in pods.values():
                    print(f"===== {pod.name}: {' '.join(pod.argv)}\n{pod.log()}")
    _check_lease_calls(api, objects, f"{name}-discovery", namespace)


async def _trade(
    api: ApiServer,
    exchange: tuple[str, str],
    replicas: list[LocalPod],
    engines: list[LocalPod],
    symbols: list[str],
    tokens: dict[str, str],
    channels: Channels,
) -> None:
    everyone = [*replicas, *engines]
    # Either replica answers placement: the leader itself, the standby by relay.
    discovery = replicas[-1]
    name, namespace = exchange
    by_id = {pod.name: pod for pod in engines}

    # As the probes ask it: gRPC health on the plaintext health port, "" (startup,
    # liveness) once the process serves, then "readiness" once discovery has placed
    # every symbol and each engine holds its replicas in sync.
    async def serving(pod: LocalPod, service: str) -> bool:
        stub = health_pb2_grpc.HealthStub(channels(f"127.0.0.1:{pod.ports['health']}"))
        request = health_pb2.HealthCheckRequest(service=service)
        reply = await stub.Check(request, timeout=CALL_SECONDS)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    for pod in everyone:
        await until(partial(serving, pod, ""), f"{pod.name} serving", everyone, START_SECONDS)
    for pod in everyone:
        await until(
            partial(serving, pod, "readiness"), f"{pod.name} ready", everyone, START_SECONDS
        )
    for pod in everyone:
        scrape = partial(asyncio.to_thread, _metrics_answer, pod)
        await until(scrape, f"{pod.name} metrics on its metrics port", everyone)

    # Every symbol placed on all three engines, its primary serving it in that epoch.
    async def placed() -> ds.Placement | None:
        stub = ds_grpc.DiscoveryServiceStub(channels(discovery.address))
        placement = await stub.GetPlacement(ds.GetPlacementRequest(), timeout=CALL_SECONDS)
        if sorted(sp.symbol for sp in placement.symbols) != symbols:
            return None
        for sp in placement.symbols:
            if not sp.primary or len(sp.in_sync) != 3:
                return None
            status = await _replica_status(channels, by_id[sp.primary])
            replica = status.get(sp.symbol)
            if replica is None or replica.role != rp.REPLICA_ROLE_PRIMARY:
                return None
            if replica.epoch != sp.epoch:
                return None
        return placement

    placement = await until(placed, "every symbol placed with a serving primary", everyone,
                            START_SECONDS)  # fmt: skip
    assert {e.engine_id: e.address for e in placement.engines} == {
        pod.name: pod.address for pod in engines
    }, "engines registered under their pod names at their (rewritten) advertised addresses"
    for sp in placement.symbols:
        assert {sp.primary, *sp.followers} == set(by_id), sp

    # The placement is kept in Leases, one per symbol, holder = primary.
    leases = api.emulator.named("coordination.k8s.io/v1/leases", namespace)
    for sp in placement.symbols:
        lease = leases[lease_name(name, sp.symbol)]
        assert lease["spec"]["holderIdentity"] == sp.primary
        record = json.loads(lease["metadata"]["annotations"][ANNOTATION])
        assert record["symbol"] == sp.symbol

    # A sell through engine-0 rests; a crossing buy through engine-1 trades with it (each
    # engine forwards to the symbol's primary, whichever it is); engine-2 shows the book.
    symbol = symbols[0]
    seller, buyer, reader = engines
    # Two accounts, so self-trade prevention has nothing to say.
    alice, bob = (tokens[account] for account in sorted(tokens)[:2])
    sell = await _submit(channels, seller, alice, symbol, pb.SIDE_SELL, "5", "sell-1")
    assert sell.status == pb.ORDER_STATUS_NEW, sell
    buy = await _submit(channels, buyer, bob, symbol, pb.SIDE_BUY, "3", "buy-1")
    assert buy.status == pb.ORDER_STATUS_FILLED, buy
    assert [(Decimal(f.price), Decimal(f.qty), f.maker) for f in buy.fills] == [
        (PRICE, Decimal(3), False)
    ], buy
    assert buy.seq > sell.seq

    async def book_at(pod: LocalPod) -> md.BookSnapshot | None:
        stub = md_grpc.MarketDataServiceStub(channels(pod.address))
        book = await stub.GetBook(md.GetBookRequest(symbol=symbol), timeout=CALL_SECONDS)
        return book if book.seq >= buy.seq else None

    books = [
        await until(partial(book_at, pod), f"{symbol} book on {pod.name}", engines)
        for pod in (reader, seller, buyer)
    ]
    assert len({book.seq for book in books}) == 1, books
    book = books[0]
    assert not book.bids
    assert [(Decimal(level.price), Decimal(level.qty)) for level in book.asks] == [
        (PRICE, Decimal(2))
    ]
    assert all(other == book for other in books)

    # Every replica applied the same entries to the same state.
    async def converged() -> dict[str, rp.ReplicaStatus] | None:
        states = {pod.name: (await _replica_status(channels, pod))[symbol] for pod in engines}
        applied = {(s.applied_seq, s.state_hash) for s in states.values()}
        return states if len(applied) == 1 else None

    states = await until(converged, f"{symbol} replicas converged", engines)
    assert {s.applied_seq for s in states.values()} == {book.seq}
    roles = sorted(s.role for s in states.values())
    assert roles.count(rp.REPLICA_ROLE_PRIMARY) == 1, states


async def _replica_status(channels: Channels, pod: LocalPod) -> dict[str, rp.ReplicaStatus]:
    stub = rp_grpc.ReplicationServiceStub(channels(pod.address))
    reply = await stub.GetReplicaStatus(rp.GetReplicaStatusRequest(), timeout=CALL_SECONDS)
    return {replica.symbol: replica for replica in reply.replicas}


async def _submit(
    channels: Channels,
    pod: LocalPod,
    token: str,
    symbol: str,
    side: pb.Side.ValueType,
    qty: str,
    client_order_id: str,
) -> tr.OrderResult:
    stub = tr_grpc.TradingServiceStub(channels(pod.address))
    request = tr.SubmitOrderRequest(
        symbol=symbol,
        side=side,
        type=pb.ORDER_TYPE_LIMIT,
        price=str(PRICE),
        qty=qty,
        client_order_id=client_order_id,
    )
    metadata = (("authorization", f"Bearer {token}"),)
    result: tr.OrderResult = await stub.SubmitOrder(
        request, metadata=metadata, timeout=CALL_SECONDS
    )
    return result


def _check_lease_calls(
    api: ApiServer, objects: list[dict[str, Any]], role: str, namespace: str
) -> None:
    """Discovery called the API only with the mounted token, only for Leases and its own
    ConfigMap in its namespace, and only with verbs the rendered Role grants."""
    calls = [r for r in api.emulator.requests if r.resource is not None]
    assert calls, "discovery never called the Kubernetes API"
    for call in calls:
        assert call.headers.get("Authorization") == f"Bearer {api.token}", call
        assert call.resource is not None
        where = (call.resource.group, call.resource.plural)
        assert where in (("coordination.k8s.io", "leases"), ("", "configmaps")), call.url
        assert call.namespace == namespace
        granted = _role_verbs(objects, role, *where, call.name)
        verb = VERBS.get(call.method.value, call.method.value)
        assert verb in granted, f"{call.method} {call.url}: the Role grants {sorted(granted)}"
