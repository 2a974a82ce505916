"""The bad Exchange the CRD cannot refuse is refused by the operator, in its status.

``quantity-off-lot`` (a minimum quantity that is no multiple of the lot) is beyond what
the CRD's schema and CEL rules check, so kube-apiserver admits it
(test_kube_admission.py). The operator's render refuses it: the Exchange reports
Degraded with reason InvalidSpec and the render's message, and nothing is created.
"""

from __future__ import annotations

import sys
from pathlib import Path

from control_plane import ControlPlane
from kube_api import resource_path
from kube_chart import NAMESPACE, OperatorProcess
from local_kubelet import LocalKubelet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))
from operator_helpers import BAD_EXCHANGES, load_yaml

BAD = BAD_EXCHANGES / "quantity-off-lot.yaml"


def _because(path: Path) -> str:
    lines = [line for line in path.read_text().splitlines() if line.startswith("# because: ")]
    return lines[0].removeprefix("# because: ")


def test_the_operator_reports_an_admitted_bad_exchange_invalid(
    plane: ControlPlane, kubelet: LocalKubelet, operator: OperatorProcess
) -> None:
    name = load_yaml(BAD)["metadata"]["name"]
    path = resource_path("dome.dev/v1alpha1", "exchanges", NAMESPACE, name)
    plane.kubectl("create", f"--namespace={NAMESPACE}", "-f", str(BAD))
    try:

        def degraded() -> dict[str, str] | None:
            operator.check_alive()
            status = (plane.api.find(path) or {}).get("status", {})
            for condition in status.get("conditions", []):
                if condition["type"] == "Degraded" and condition["status"] == "True":
                    found: dict[str, str] = condition
                    return found
            return None

        condition = plane.wait(degraded, f"{name} Degraded", 60)
        assert condition["reason"] == "InvalidSpec", condition
        assert _because(BAD) in condition["message"], condition
        statefulset = resource_path("apps/v1", "statefulsets", NAMESPACE, f"{name}-engine")
        assert plane.api.find(statefulset) is None
        assert (
            plane.api.items(
                f"/api/v1/namespaces/{NAMESPACE}/pods", f"app.kubernetes.io/instance={name}"
            )
            == []
        )
    finally:
        plane.kubectl("delete", "exchange", name, f"--namespace={NAMESPACE}", "--wait=true")
