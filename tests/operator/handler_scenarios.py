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
PODS = "v1/pods"
#: The label the StatefulSet controller puts on each pod: its template's revision.
REVISION = "controller-revision-hash"
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


#: More engine pods than any scenario makes.
_MAX_ENGINES = 16


def engine_pods(cluster: ClusterEmulator) -> dict[int, dict[str, Any]]:
    """The engine pods the emulator holds, by ordinal."""
    found = {n: cluster.live(PODS, NAMESPACE, f"{NAME}-engine-{n}") for n in range(_MAX_ENGINES)}
    return {n: pod for n, pod in found.items() if pod is not None}


async def play_controllers(cluster: ClusterEmulator, *, ready: int, revision: str) -> None:
    """What the StatefulSet and Deployment controllers would do and report once pods run.

    Like the StatefulSet controller under OnDelete, a missing engine pod is created from
    ``revision`` (the template now) and a running one keeps the revision it was made from;
    pods past the replica count go. The first ``ready`` ordinals are Ready.
    """
    stateful_set = cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine")
    assert stateful_set is not None
    replicas = int(stateful_set["spec"]["replicas"])
    pods_url = f"/api/v1/namespaces/{NAMESPACE}/pods"
    present = engine_pods(cluster)
    for ordinal, pod in present.items():
        if ordinal >= replicas:
            await api(cluster, "DELETE", f"{pods_url}/{pod['metadata']['name']}")
    for ordinal in range(replicas):
        name = f"{NAME}-engine-{ordinal}"
        if ordinal not in present:
            labels = {**stateful_set["spec"]["selector"]["matchLabels"], REVISION: revision}
            body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}}
            await api(cluster, "POST", pods_url, body, content_type="application/json")
        state = "True" if ordinal < ready else "False"
        condition = {"status": {"conditions": [{"type": "Ready", "status": state}]}}
        await api(cluster, "PATCH", f"{pods_url}/{name}/status", condition)
    updated = sum(
        1
        for ordinal, pod in engine_pods(cluster).items()
        if ordinal < replicas and pod["metadata"]["labels"].get(REVISION) == revision
    )
    status = {
        "observedGeneration": stateful_set["metadata"]["generation"],
        "replicas": replicas,
        "readyReplicas": ready,
        "updatedReplicas": updated,
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
