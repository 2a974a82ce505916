"""Growing an Exchange's volumes on the real control plane, without restarting an engine.

An Exchange of one engine on a StorageClass with ``allowVolumeExpansion`` (statically
provisioned: PersistentVolumes of that class are made up front, as the suite's binder
needs) grows ``spec.storage.size``: the operator patches the engine's claim, re-creates
the StatefulSet by an orphaning delete with the new claim template, and the pod keeps
running (same uid, same process). Shrinking is refused by the API server with the
CRD's message. With the class's ``allowVolumeExpansion`` switched off, the API server's
``PersistentVolumeClaimResize`` admission refuses the claim patch: the Exchange says so
in its Degraded condition, keeps its StatefulSet, and grows once the class allows it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from control_plane import ControlPlane
from kube_api import resource_path
from kube_chart import NAMESPACE, OperatorProcess
from local_kubelet import LocalKubelet
from operator_helpers import EXAMPLES
from scene import Scene

pytestmark = pytest.mark.timeout(600)

NAME = "grow"
CLASS = "dome-expandable"
ENGINE = f"{NAME}-engine-0"
CLAIM = f"data-{ENGINE}"
#: Python processes starting on two shared cores: generous, but a deadline.
READY_SECONDS = 240.0


def exchange_path() -> str:
    return resource_path("dome.dev/v1alpha1", "exchanges", NAMESPACE, NAME)


def _claim(plane: ControlPlane) -> dict[str, Any]:
    found: dict[str, Any] = plane.api.get(
        resource_path("v1", "persistentvolumeclaims", NAMESPACE, CLAIM)
    )
    return found


def _engines(plane: ControlPlane) -> dict[str, Any] | None:
    found: dict[str, Any] | None = plane.api.find(
        resource_path("apps/v1", "statefulsets", NAMESPACE, f"{NAME}-engine")
    )
    return found


def _pod(plane: ControlPlane) -> dict[str, Any] | None:
    found: dict[str, Any] | None = plane.api.find(resource_path("v1", "pods", NAMESPACE, ENGINE))
    return found


def _template_size(stateful_set: dict[str, Any] | None) -> str | None:
    if stateful_set is None:
        return None
    (template,) = stateful_set["spec"]["volumeClaimTemplates"]
    size: str = template["spec"]["resources"]["requests"]["storage"]
    return size


def _condition(plane: ControlPlane, kind: str) -> dict[str, Any]:
    status = (plane.api.find(exchange_path()) or {}).get("status", {})
    for item in status.get("conditions", []):
        if item["type"] == kind:
            found: dict[str, Any] = item
            return found
    return {}


def _ready(plane: ControlPlane) -> bool:
    exchange = plane.api.find(exchange_path()) or {}
    status = exchange.get("status", {})
    return _condition(plane, "Ready").get("status") == "True" and status.get(
        "observedGeneration"
    ) == exchange.get("metadata", {}).get("generation")


class StorageScene(Scene):
    """The scene of the growing Exchange, with its storage knobs."""

    def storage(self, change: dict[str, Any], *, check: bool = True) -> str:
        patch = json.dumps({"spec": {"storage": change}})
        return self.plane.kubectl(
            "patch", "exchange", NAME, f"--namespace={NAMESPACE}", "--type=merge", "-p", patch,
            check=check,
        )  # fmt: skip

    def expansion(self, allowed: bool) -> None:
        self.plane.api.merge_patch(
            f"/apis/storage.k8s.io/v1/storageclasses/{CLASS}", {"allowVolumeExpansion": allowed}
        )


@pytest.fixture(scope="module")
def scene(
    plane: ControlPlane,
    kubelet: LocalKubelet,
    operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    plane.api.create("/apis/storage.k8s.io/v1/storageclasses", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": CLASS},
        # No provisioner runs: the volumes below are bound statically, by class.
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
    })  # fmt: skip
    root = tmp_path_factory.mktemp("expandable-volumes")
    for index in range(2):
        directory = root / f"pv-{index}"
        directory.mkdir()
        plane.api.create("/api/v1/persistentvolumes", {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"expandable-pv-{index}"},
            "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": CLASS, "persistentVolumeReclaimPolicy": "Retain",
                     "hostPath": {"path": str(directory), "type": "Directory"}},
        })  # fmt: skip
    exchange = {
        "apiVersion": "dome.dev/v1alpha1",
        "kind": "Exchange",
        "metadata": {"name": NAME},
        "spec": {
            "engines": 1,
            "instruments": [
                {
                    "symbol": "BTC-USD",
                    "tickSize": "0.01",
                    "lotSize": "0.0001",
                    "minQty": "0.0001",
                    "maxQty": "1000",
                },
            ],
            "storage": {"size": "1Gi", "storageClassName": CLASS},
            "auth": {"accountsSecret": "demo-accounts"},
        },
    }
    path = Path(root) / "exchange.json"
    path.write_text(json.dumps(exchange))
    plane.kubectl("apply", f"--namespace={NAMESPACE}",
                  "-f", str(EXAMPLES / "accounts-secret.yaml"), "-f", str(path))  # fmt: skip
    scene = StorageScene(plane, kubelet, operator, NAME)
    scene.wait(lambda: _ready(plane), f"Exchange {NAME} Ready", READY_SECONDS)
    yield scene
    plane.kubectl("delete", "exchange", NAME, f"--namespace={NAMESPACE}", "--wait=true")
    scene.wait(lambda: _pod(plane) is None, f"{ENGINE} to go", 120)


def test_growing_the_size_resizes_the_claim_and_keeps_the_pod(scene: StorageScene) -> None:
    plane = scene.plane
    assert _claim(plane)["status"]["phase"] == "Bound"
    pod, engines = _pod(plane), _engines(plane)
    assert pod is not None
    assert engines is not None
    process = scene.kubelet.process(ENGINE)
    assert process is not None
    scene.storage({"size": "2Gi"})
    scene.wait(
        lambda: _claim(plane)["spec"]["resources"]["requests"]["storage"] == "2Gi",
        "the operator to grow the claim",
    )
    recreated = scene.wait(
        lambda: (s := _engines(plane)) is not None and _template_size(s) == "2Gi" and s,
        "the StatefulSet re-created with the new claim template",
    )
    assert recreated["metadata"]["uid"] != engines["metadata"]["uid"]
    scene.wait(lambda: _ready(plane), "the Exchange Ready again", READY_SECONDS)
    after = _pod(plane)
    assert after is not None
    assert after["metadata"]["uid"] == pod["metadata"]["uid"], "the engine pod was replaced"
    (owner,) = after["metadata"]["ownerReferences"]
    assert owner["uid"] == recreated["metadata"]["uid"], "the new StatefulSet adopted it"
    assert scene.kubelet.process(ENGINE) is process, "the engine process was restarted"
    assert process.process.alive()


def test_shrinking_is_refused_by_the_api_server(scene: StorageScene) -> None:
    out = scene.storage({"size": "1Gi"}, check=False)
    assert "storage size may grow but never shrink" in out, out
    out = scene.storage({"size": "1536Mi"}, check=False)
    assert "storage size may grow but never shrink" in out, out
    assert _claim(scene.plane)["spec"]["resources"]["requests"]["storage"] == "2Gi"


def test_a_class_without_expansion_is_reported_and_resumed_when_allowed(
    scene: StorageScene,
) -> None:
    plane = scene.plane
    engines = _engines(plane)
    assert engines is not None
    scene.expansion(False)
    scene.storage({"size": "3Gi"})
    degraded = scene.wait(
        lambda: (
            (c := _condition(plane, "Degraded")).get("reason") == "VolumeExpansionRefused" and c
        ),
        "the refusal in the Exchange's status",
    )
    assert "only dynamically provisioned pvc can be resized" in degraded["message"], degraded
    assert CLAIM in degraded["message"], degraded
    assert _claim(plane)["spec"]["resources"]["requests"]["storage"] == "2Gi"
    kept = _engines(plane)
    assert kept is not None
    assert kept["metadata"]["uid"] == engines["metadata"]["uid"]
    assert _template_size(kept) == "2Gi"
    scene.expansion(True)
    scene.wait(
        lambda: (
            _template_size(_engines(plane)) == "3Gi"
            and _claim(plane)["spec"]["resources"]["requests"]["storage"] == "3Gi"
        ),
        "the retried reconcile to grow the volume once the class allows it",
        120,
    )
    scene.wait(lambda: _ready(plane), "the Exchange Ready again", READY_SECONDS)
