"""The external Service end to end on the emulated cluster: its load balancer's address
becomes status.endpoint, and switching it off prunes it and brings the in-cluster name
back. The tests play the cloud controller's part (the Service's status)."""

from __future__ import annotations

from handler_scenarios import NAME, create, exchange, play_controllers, quick, the_exchange
from kube_emulator import ClusterEmulator
from operator_runtime import NAMESPACE, api, cluster, eventually, exchange_url, operator

__all__ = ["cluster", "quick"]  # the fixtures, imported for pytest

SERVICES = "v1/services"
EXTERNAL = f"{NAME}-external"
IN_CLUSTER = f"{NAME}.{NAMESPACE}.svc:7100"


def _endpoint(cluster: ClusterEmulator) -> str | None:
    return (the_exchange(cluster) or {}).get("status", {}).get("endpoint")


async def test_the_load_balancer_address_is_the_endpoint(cluster: ClusterEmulator) -> None:
    async with operator():
        await create(cluster, exchange(service={"external": "LoadBalancer"}))
        service = await eventually(
            lambda: cluster.live(SERVICES, NAMESPACE, EXTERNAL), "the external Service"
        )
        assert service["spec"]["type"] == "LoadBalancer"
        await eventually(lambda: _endpoint(cluster) == IN_CLUSTER, "the in-cluster endpoint")
        # The cloud's controller gives the load balancer an address.
        ingress = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
        url = f"/api/v1/namespaces/{NAMESPACE}/services/{EXTERNAL}/status"
        await api(cluster, "PATCH", url, {"status": ingress})
        # A workload event refreshes the status, as the StatefulSet controller's would.
        await play_controllers(cluster, ready=3, revision="main-engine-1")
        await eventually(
            lambda: _endpoint(cluster) == "203.0.113.7:7100", "the load balancer's address"
        )

        await api(cluster, "PATCH", exchange_url(NAME), {"spec": {"service": None}})
        await eventually(
            lambda: cluster.live(SERVICES, NAMESPACE, EXTERNAL) is None, "the Service pruned"
        )
        await play_controllers(cluster, ready=3, revision="main-engine-1")
        await eventually(lambda: _endpoint(cluster) == IN_CLUSTER, "the in-cluster endpoint back")
