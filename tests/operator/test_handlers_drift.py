"""Drift repair on the emulated cluster: a deleted or hand-edited child comes back.

The operator's periodic resync (``dome_operator.drift``, every ``STATUS_REFRESH_S``,
shortened here) re-renders each settled Exchange and applies the children that are
missing or differ from the render, with a ``DriftRepaired`` event; children that match
are only read. The same on the real API server: tests/kube/test_kube_drift.py.
"""

from __future__ import annotations

import pytest
from handler_scenarios import (
    NAME,
    STATEFUL_SETS,
    children_writes,
    create,
    exchange,
    play_controllers,
    quick,
    the_exchange,
)
from kube_emulator import ClusterEmulator
from operator_runtime import (
    NAMESPACE,
    api,
    cluster,
    event_reasons,
    eventually,
    has_condition,
    operator,
)

__all__ = ["cluster", "quick"]  # the fixtures, imported for pytest

SERVICES = "v1/services"
NETWORK_POLICIES = "networking.k8s.io/v1/networkpolicies"
CORE = f"/api/v1/namespaces/{NAMESPACE}"
APPS = f"/apis/apps/v1/namespaces/{NAMESPACE}"


@pytest.fixture(autouse=True)
def frequent_resync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dome_operator.handlers.STATUS_REFRESH_S", 0.2)


async def _ready(cluster: ClusterEmulator) -> None:
    await create(cluster, exchange())
    await eventually(
        lambda: has_condition(the_exchange(cluster), "Progressing", "True"), "a first status"
    )
    await play_controllers(cluster, ready=3, revision="main-engine-1")
    await eventually(lambda: has_condition(the_exchange(cluster), "Ready", "True"), "Ready")


async def test_a_deleted_service_and_network_policy_are_restored(cluster: ClusterEmulator) -> None:
    async with operator():
        await _ready(cluster)
        original = cluster.live(SERVICES, NAMESPACE, NAME)
        assert original is not None
        await api(cluster, "DELETE", f"{CORE}/services/{NAME}")
        await api(
            cluster,
            "DELETE",
            f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies/{NAME}",
        )
        restored = await eventually(
            lambda: cluster.live(SERVICES, NAMESPACE, NAME), "the Service restored"
        )
        assert restored["spec"] == original["spec"]
        assert restored["metadata"]["uid"] != original["metadata"]["uid"]
        await eventually(
            lambda: cluster.live(NETWORK_POLICIES, NAMESPACE, NAME), "the NetworkPolicy restored"
        )
        await eventually(
            lambda: "DriftRepaired" in event_reasons(cluster, NAME), "a DriftRepaired event"
        )


async def test_a_hand_edit_of_the_stateful_set_is_reverted(cluster: ClusterEmulator) -> None:
    async with operator():
        await _ready(cluster)
        # What `kubectl edit` sends: the operator's hash annotation is kept.
        await api(
            cluster,
            "PATCH",
            f"{APPS}/statefulsets/{NAME}-engine",
            {"spec": {"replicas": 7, "podManagementPolicy": "OrderedReady"}},
        )
        assert cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine")["spec"]["replicas"] == 7

        def reverted() -> bool:
            spec = cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine")["spec"]
            return spec["replicas"] == 3 and spec["podManagementPolicy"] == "Parallel"

        await eventually(reverted, "the StatefulSet's replicas and policy reverted")


async def test_children_that_match_are_read_not_written(cluster: ClusterEmulator) -> None:
    async with operator():
        await _ready(cluster)
        mark = len(cluster.requests)
        engine_set = f"{APPS}/statefulsets/{NAME}-engine"

        def resyncs() -> int:
            return sum(
                1
                for request in cluster.requests[mark:]
                if request.method == "GET" and request.url.path == engine_set
            )

        # Three resyncs (each reads the StatefulSet for the repair and for the status).
        await eventually(lambda: resyncs() >= 6, "three resyncs")
        assert children_writes(cluster, mark) == []
