"""spec.fix end to end: the operator (kopf, the official client) runs and reports the gateway.

Against the emulated API server: an Exchange with spec.fix gets the gateway's
StatefulSet, Service and NetworkPolicy; status.fix follows the StatefulSet's ready
replicas as the tests play its controller (a StatefulSet event refreshes the status);
switching the gateway off prunes its objects and removes status.fix.
"""

from __future__ import annotations

from typing import Any

from kube_emulator import ClusterEmulator
from operator_runtime import NAMESPACE, api, cluster, eventually, exchange_url, operator
from test_handlers import NAME, STATEFUL_SETS, create, exchange, play_controllers, the_exchange

__all__ = ["cluster"]  # the fixture, imported for pytest

GATEWAY = f"{NAME}-fix"
FIX = {"enabled": True, "tokensSecret": "main-fix-tokens"}


def fix_status(cluster: ClusterEmulator) -> dict[str, Any] | None:
    status: dict[str, Any] | None = ((the_exchange(cluster) or {}).get("status") or {}).get("fix")
    return status


async def gateway_ready(cluster: ClusterEmulator, ready: int) -> None:
    """What the StatefulSet controller reports for the gateway's one pod."""
    url = f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets/{GATEWAY}/status"
    await api(cluster, "PATCH", url, {"status": {"replicas": 1, "readyReplicas": ready}})


async def test_the_gateway_is_run_reported_and_pruned(cluster: ClusterEmulator) -> None:
    async with operator():
        await create(cluster, exchange(fix=FIX))
        gateway = await eventually(
            lambda: cluster.live(STATEFUL_SETS, NAMESPACE, GATEWAY), "the gateway StatefulSet"
        )
        assert gateway["spec"]["replicas"] == 1
        assert gateway["metadata"]["ownerReferences"][0]["kind"] == "Exchange"
        assert cluster.live("v1/services", NAMESPACE, GATEWAY) is not None
        policies = "networking.k8s.io/v1/networkpolicies"  # applied after the workload
        await eventually(lambda: cluster.live(policies, NAMESPACE, GATEWAY), "its NetworkPolicy")

        await play_controllers(cluster, ready=3, revision="r1")
        not_ready = await eventually(lambda: fix_status(cluster), "status.fix")
        assert not_ready["ready"] is False
        assert not_ready["endpoint"] == f"{GATEWAY}.{NAMESPACE}.svc:9878"
        await gateway_ready(cluster, 1)
        await eventually(
            lambda: (fix_status(cluster) or {}).get("ready") is True, "status.fix ready"
        )

        await api(cluster, "PATCH", exchange_url(NAME), {"spec": {"fix": {"enabled": False}}})
        await eventually(
            lambda: cluster.live(STATEFUL_SETS, NAMESPACE, GATEWAY) is None, "the gateway pruned"
        )
        await eventually(lambda: cluster.live(policies, NAMESPACE, GATEWAY) is None, "its policy")
        await eventually(lambda: fix_status(cluster) is None, "status.fix removed")
        assert cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine") is not None
