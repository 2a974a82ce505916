"""Two discovery replicas on the real control plane: kill -9 the leader under load.

An Exchange ``ha`` (examples/k8s's, two engines, ``spec.discovery.replicas`` left at its
default of 2) runs through the operator: the controller manager makes two discovery pods
from the Deployment, the local kubelet runs them as processes, and they campaign for the
Lease ``ha-discovery-leader`` on the real kube-apiserver. Engines dial discovery's
ClusterIP Service, which now selects two pods: the kubelet serves it through one
balancing proxy (service_proxy.py), as kube-proxy would.

A trader submits orders one after another through the client Service, retrying each
(with its client order id, so a retry is idempotent) until acknowledged. The leader's
process is killed with SIGKILL; the standby takes the Lease once it lapses, loads the
placement from the symbol Leases and waits out its predecessor's grants, and the kubelet
restarts the dead process, which comes back as a standby. Engines keep writing on the
grant they hold meanwhile (``dome.discovery.handover``). Then:

- every acknowledged order is still there: resubmitted, each answers ``duplicate`` with
  its original order id, and the book holds exactly their quantity;
- ``dome check``: every symbol's replicas agree;
- the longest gap between two acknowledgements is logged (and written to
  ``DOME_FAILOVER_REPORT`` when set: bench/discovery_failover.py), not asserted: a
  timing on two shared cores is a measurement, not a test.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from control_plane import ControlPlane
from kube_api import resource_path
from kube_chart import NAMESPACE, OperatorProcess
from local_kubelet import LocalKubelet
from scene import Scene
from service_proxy import open_service_proxy, service_proxy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))
from operator_helpers import EXAMPLES

from dome.discovery.leader import ADDRESS_ANNOTATION
from dome.v1 import common_pb2 as pb
from dome.v1 import market_data_pb2 as md
from dome.v1 import market_data_pb2_grpc as md_grpc
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc

pytestmark = pytest.mark.timeout(900)

NAME = "ha"
LEASE = f"{NAME}-discovery-leader"
#: Python processes starting on two shared cores: generous, but a deadline.
READY_SECONDS = 240.0
SYMBOL = "BTC-USD"
PRICE = "100.00"
QTY = Decimal("0.1")
#: A single order may take this long to be acknowledged, retries included; far beyond
#: a handover (a few seconds), so only a lost write path fails it.
ORDER_SECONDS = 60.0
CALL_SECONDS = 2.0
#: Acknowledgements before the kill, and after the new leader's recovery window.
BEFORE_KILL = 30
AFTER_RECOVERY = 30
KILLS = int(os.environ.get("DOME_FAILOVER_KILLS", "1"))


def _exchange() -> dict[str, Any]:
    exchange: dict[str, Any] = yaml.safe_load((EXAMPLES / "exchange.yaml").read_text())
    exchange["metadata"]["name"] = NAME
    spec = exchange["spec"]
    spec["engines"] = 2
    spec["replication"]["factor"] = 2
    # A scratch exchange: its volumes go with it, and the suite's others stay free.
    spec["storage"]["retainOnDelete"] = False
    assert "discovery" not in spec, "the test runs the default replica count"
    return exchange


def _pods(scene: Scene, component: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/instance={NAME},app.kubernetes.io/component={component}"
    return scene.plane.api.items(f"/api/v1/namespaces/{NAMESPACE}/pods", selector)


def _ready(obj: dict[str, Any] | None) -> bool:
    conditions = (obj or {}).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _lease(scene: Scene) -> dict[str, Any] | None:
    found: dict[str, Any] | None = scene.plane.api.find(
        resource_path("coordination.k8s.io/v1", "leases", NAMESPACE, LEASE)
    )
    return found


def _holder(scene: Scene) -> str:
    return str(((_lease(scene) or {}).get("spec") or {}).get("holderIdentity") or "")


@pytest.fixture(scope="module")
def scene(
    plane: ControlPlane, kubelet: LocalKubelet, operator: OperatorProcess, tmp_path_factory: Any
) -> Iterator[Scene]:
    # The operator reads this exchange's placement through its discovery Service
    # (conftest points it at demo's); either replica answers, the standby by relay.
    original = dict(operator.env)
    proxy = open_service_proxy(plane, kubelet, NAMESPACE, f"{NAME}-discovery", "grpc")
    operator.stop()
    operator.env["DOME_OPERATOR_DISCOVERY_ADDRESS"] = proxy.address
    operator.start()
    scene = Scene(plane, kubelet, operator, NAME)
    manifest = tmp_path_factory.mktemp("ha") / "exchange.yaml"
    manifest.write_text(yaml.safe_dump(_exchange()))
    plane.kubectl("apply", f"--namespace={NAMESPACE}",
                  "-f", str(EXAMPLES / "accounts-secret.yaml"), "-f", str(manifest))  # fmt: skip
    scene.wait(lambda: _ready(scene.exchange()), "the Exchange Ready", READY_SECONDS)
    try:
        yield scene
    finally:
        plane.kubectl("delete", "exchange", NAME, f"--namespace={NAMESPACE}", "--wait=true")
        scene.wait(lambda: not _pods(scene, "discovery") and not _pods(scene, "engine")
                   and not any(r.name.startswith(f"{NAME}-") for r in kubelet.running.values()),
                   "the exchange's pods and processes gone", 120)  # fmt: skip
        operator.stop()
        operator.env.clear()
        operator.env.update(original)
        operator.start()
        proxy.close()


def test_two_replicas_one_leader_on_a_lease_the_exchange_owns(scene: Scene) -> None:
    discovery = scene.wait(
        lambda: (pods := _pods(scene, "discovery")) and all(map(_ready, pods)) and pods,
        "both discovery pods Ready (the standby too: it relays)",
    )
    names = sorted(p["metadata"]["name"] for p in discovery)
    assert len(names) == 2, names
    lease = scene.wait(lambda: _holder(scene) in names and _lease(scene), "a leader")
    (owner,) = lease["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("Exchange", NAME), owner
    assert owner["uid"] == scene.exchange()["metadata"]["uid"]
    leader = scene.kubelet.process(lease["spec"]["holderIdentity"])
    assert leader is not None
    address = lease["metadata"]["annotations"][ADDRESS_ANNOTATION]
    assert address == f"127.0.0.1:{leader.process.ports['grpc']}", "its pod IP and gRPC port"
    budget = scene.plane.api.get(
        resource_path("policy/v1", "poddisruptionbudgets", NAMESPACE, f"{NAME}-discovery")
    )
    assert budget["spec"]["maxUnavailable"] == 1
    scene.wait(lambda: budget_allows(scene), "the budget to allow one disruption")


def budget_allows(scene: Scene) -> bool:
    budget = scene.plane.api.get(
        resource_path("policy/v1", "poddisruptionbudgets", NAMESPACE, f"{NAME}-discovery")
    )
    return bool(budget.get("status", {}).get("disruptionsAllowed") == 1)


@dataclass
class Trader:
    """Sells one order after another through the client Service, each retried (same
    client order id) until acknowledged; keeps when each acknowledgement came."""

    address: str
    token: str
    acks: list[tuple[float, str, int]] = field(default_factory=list)
    retries: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Trader:
        self._thread = threading.Thread(target=self._run, name="ha-trader", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(ORDER_SECONDS + 10)

    def _run(self) -> None:
        metadata = (("authorization", f"Bearer {self.token}"),)
        with grpc.insecure_channel(self.address) as channel:
            stub = tr_grpc.TradingServiceStub(channel)
            n = 0
            while not self._stop.is_set():
                order_id = f"ha-{n}"
                answer = self._acknowledged(stub, metadata, order_id)
                if answer is None:
                    return
                self.acks.append((time.monotonic(), order_id, answer.order_id))
                n += 1

    def _acknowledged(self, stub: Any, metadata: Any, order_id: str) -> tr.OrderResult | None:
        request = _sell(order_id)
        deadline = time.monotonic() + ORDER_SECONDS
        while time.monotonic() < deadline:
            try:
                answer: tr.OrderResult = stub.SubmitOrder(
                    request, metadata=metadata, timeout=CALL_SECONDS
                )
            except grpc.RpcError as error:
                self.retries += 1
                if error.code() not in (grpc.StatusCode.UNAVAILABLE,  # type: ignore[attr-defined]
                                        grpc.StatusCode.DEADLINE_EXCEEDED,
                                        grpc.StatusCode.FAILED_PRECONDITION):  # fmt: skip
                    self.failures.append(f"{order_id}: {error}")
                    return None
                continue
            if answer.status != pb.ORDER_STATUS_NEW:
                self.failures.append(f"{order_id}: {answer}")
                return None
            return answer
        self.failures.append(f"{order_id}: not acknowledged within {ORDER_SECONDS}s")
        return None

    def longest_gap(self, since: float = 0.0, until: float = float("inf")) -> float:
        times = [t for t, _, _ in self.acks if since <= t <= until]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def _sell(order_id: str) -> tr.SubmitOrderRequest:
    return tr.SubmitOrderRequest(symbol=SYMBOL, side=pb.SIDE_SELL, type=pb.ORDER_TYPE_LIMIT,
                                 price=PRICE, qty=str(QTY), client_order_id=order_id)  # fmt: skip


def test_killing_the_discovery_leader_loses_no_acknowledged_order(scene: Scene) -> None:
    token = json.loads((EXAMPLES / "tokens.json").read_text())["alice"]
    figures: list[dict[str, Any]] = []
    with (
        service_proxy(scene.plane, scene.kubelet, NAMESPACE, NAME, "grpc") as address,
        Trader(address, token) as trader,
    ):
        for kill in range(KILLS):
            figures.append(_kill_the_leader(scene, trader, (kill + 1) * BEFORE_KILL))
            print(f"discovery leader kill {kill + 1}: {figures[-1]}")
    assert not trader.failures, trader.failures
    acknowledged = list(trader.acks)
    first_kill = min(f["killed_at"] for f in figures)
    report = {
        "kills": KILLS,
        "figures": [{k: v for k, v in f.items() if k != "killed_at"} for f in figures],
        "longest_ack_gap_s": max(f["longest_ack_gap_s"] for f in figures),
        # The same measure with no kill: what one order's round trip costs here.
        "longest_ack_gap_before_any_kill_s": round(trader.longest_gap(until=first_kill), 3),
        "acknowledged": len(acknowledged),
        "retries": trader.retries,
    }
    print(f"discovery leader failover: {json.dumps(report)}")
    if os.environ.get("DOME_FAILOVER_REPORT"):
        Path(os.environ["DOME_FAILOVER_REPORT"]).write_text(json.dumps(report, indent=2))
    with service_proxy(scene.plane, scene.kubelet, NAMESPACE, NAME, "grpc") as address:
        _every_acknowledged_order_kept(scene, address, token, acknowledged)
    scene.check()


def _kill_the_leader(scene: Scene, trader: Trader, acknowledged: int) -> dict[str, Any]:
    """Once ``acknowledged`` orders are in, kill -9 the leader's process; the figures."""
    kubelet = scene.kubelet
    scene.wait(lambda: len(trader.acks) >= acknowledged or trader.failures,
               "orders acknowledged before the kill", 120)  # fmt: skip
    assert not trader.failures, trader.failures
    old = scene.wait(lambda: _holder(scene), "a discovery leader")
    (standby,) = [p["metadata"]["name"] for p in _pods(scene, "discovery")
                  if p["metadata"]["name"] != old]  # fmt: skip
    victim = kubelet.process(old)
    assert victim is not None
    popen = victim.process.popen
    assert popen is not None
    restarts = victim.restarts
    uids = {p["metadata"]["uid"] for p in _pods(scene, "discovery")}
    killed_at = time.monotonic()
    popen.kill()  # SIGKILL: no release of the Lease, no goodbye
    scene.wait(lambda: _holder(scene) == standby, "the standby to take the Lease", 60)
    took_over = time.monotonic()
    scene.wait(
        lambda: victim.restarts > restarts and victim.process.alive(),
        "the kubelet to restart the killed discovery",
        60,
    )
    # Past the new leader's recovery window (it decides nothing before), orders still
    # flow: engines re-registered and kept their roles.
    recovered = took_over + 8.0
    scene.wait(
        lambda: sum(t >= recovered for t, _, _ in trader.acks) >= AFTER_RECOVERY or trader.failures,
        "orders acknowledged after the new leader's recovery",
        120,
    )
    assert not trader.failures, trader.failures
    after = {p["metadata"]["uid"] for p in _pods(scene, "discovery")}
    assert after == uids, "a kill -9 restarts the container, not the pod"
    # Both replicas Ready again before the next kill (or the checks after).
    scene.wait(lambda: _both_ready(scene), "both discovery replicas Ready", 120)
    return {
        "killed": old,
        "new_leader": standby,
        "killed_at": killed_at,
        "takeover_s": round(took_over - killed_at, 3),
        "longest_ack_gap_s": round(trader.longest_gap(since=killed_at - 1.0), 3),
    }


def _both_ready(scene: Scene) -> bool:
    pods = _pods(scene, "discovery")
    return len(pods) == 2 and all(map(_ready, pods))


def _every_acknowledged_order_kept(
    scene: Scene, address: str, token: str, acknowledged: list[tuple[float, str, int]]
) -> None:
    """Each acknowledged order, sent again, is a duplicate of itself; the book holds them."""
    metadata = (("authorization", f"Bearer {token}"),)
    expected = QTY * len(acknowledged)
    with grpc.insecure_channel(address) as channel:
        stub = tr_grpc.TradingServiceStub(channel)
        for _, client_order_id, order_id in acknowledged:
            # Retried as the trader retries (the resubmission is idempotent): a Service
            # connection may be refused while an endpoint's readiness flips.
            again = scene.wait(lambda cid=client_order_id: _answer(stub, cid, metadata),
                               f"an answer to {client_order_id} sent again", 30)  # fmt: skip
            assert (again.duplicate, again.order_id) == (True, order_id), (client_order_id, again)
        books = md_grpc.MarketDataServiceStub(channel)

        def resting() -> Decimal | None:
            try:
                book = books.GetBook(md.GetBookRequest(symbol=SYMBOL), timeout=10)
            except grpc.RpcError as error:
                if error.code() is grpc.StatusCode.UNAVAILABLE:  # type: ignore[attr-defined]
                    return None
                raise
            return sum((Decimal(level.qty) for level in book.asks
                        if Decimal(level.price) == Decimal(PRICE)), Decimal(0))  # fmt: skip

        # Any engine answers the book; a follower may be an entry or two behind.
        scene.wait(lambda: resting() == expected, f"{expected} resting at {PRICE}", 30)


def _answer(stub: Any, client_order_id: str, metadata: Any) -> tr.OrderResult | None:
    try:
        answer: tr.OrderResult = stub.SubmitOrder(
            _sell(client_order_id), metadata=metadata, timeout=10
        )
    except grpc.RpcError as error:
        if error.code() is grpc.StatusCode.UNAVAILABLE:  # type: ignore[attr-defined]
            return None
        raise
    return answer
