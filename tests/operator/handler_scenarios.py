"""What the operator's end-to-end tests share: the Exchange they create, the calls that
create and read it, and the controllers they play (``test_handlers*.py``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kube_emulator import ClusterEmulator
from operator_runtime import EXCHANGES, NAMESPACE, api, free_port

from dome_operator.discovery_client import ADDRESS_ENV

NAME = "main"
STATEFUL_SETS = "apps/v1/statefulsets"
DEPLOYMENTS = "apps/v1/deployments"
CHILD_RESOURCES = (
    "configmaps", "serviceaccounts", "services", "roles", "rolebindings", "deployments",
    "statefulsets", "poddisruptionbudgets", "networkpolicies", "servicemonitors",
    "prometheusrules",
)  # fmt: skip
EXCHANGE: dict[str, Any] = {
    "apiVersion": "dome.dev/v1alpha1",
    "kind": "Exchange",
    "metadata": {"name": NAME, "namespace": NAMESPACE},
    "spec": {
        "engines": 3,
        "instruments": [
            {
                "symbol": "BTC-USD",
                "tickSize": "0.01",
                "lotSize": "0.0001",
                "minQty": "0.0001",
                "maxQty": "100",
            }
        ],
        "auth": {"accountsSecret": "main-accounts"},
    },
}


def exchange(**spec: Any) -> dict[str, Any]:
    document = copy.deepcopy(EXCHANGE)
    document["spec"].update(spec)
    return document


async def create(cluster: ClusterEmulator, document: dict[str, Any]) -> dict[str, Any]:
    url = f"/apis/dome.dev/v1alpha1/namespaces/{NAMESPACE}/exchanges"
    return await api(cluster, "POST", url, document, content_type="application/json")


def the_exchange(cluster: ClusterEmulator) -> dict[str, Any] | None:
    return cluster.live(EXCHANGES, NAMESPACE, NAME)


def children_writes(cluster: ClusterEmulator, since: int) -> list[str]:
    """POST/PATCH/PUT/DELETE requests to the Exchange's children after request ``since``."""
    return [
        f"{request.method} {request.url.path}"
        for request in cluster.requests[since:]
        if request.method in ("POST", "PATCH", "PUT", "DELETE")
        and request.resource is not None
        and request.resource.plural in CHILD_RESOURCES
    ]


async def play_controllers(cluster: ClusterEmulator, *, ready: int, revision: str) -> None:
    """What the StatefulSet and Deployment controllers would report once pods run."""
    stateful_set = cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine")
    assert stateful_set is not None
    status = {
        "observedGeneration": stateful_set["metadata"]["generation"],
        "replicas": stateful_set["spec"]["replicas"],
        "readyReplicas": ready,
        "updatedReplicas": stateful_set["spec"]["replicas"],
        "currentRevision": revision,
        "updateRevision": revision,
    }
    base = f"/apis/apps/v1/namespaces/{NAMESPACE}"
    await api(cluster, "PATCH", f"{base}/statefulsets/{NAME}-engine/status", {"status": status})
    available = {"conditions": [{"type": "Available", "status": "True"}]}
    await api(
        cluster, "PATCH", f"{base}/deployments/{NAME}-discovery/status", {"status": available}
    )


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep kopf's retry delay short so a failing scenario fails fast, and point the
    operator's placement reads at a port nothing listens on (refused at once) instead of
    an in-cluster name this machine cannot resolve."""
    monkeypatch.setattr("dome_operator.handlers.RETRY_DELAY", 1)
    monkeypatch.setenv(ADDRESS_ENV, f"127.0.0.1:{free_port()}")
