"""Every pod DOME deploys is admitted under the `restricted` Pod Security Standard.

Judged by Kubernetes' own implementation: tests/podsecurity is a small Go program over
k8s.io/pod-security-admission/policy, the code the PodSecurity admission plugin runs, at
level restricted, version latest (`make pss-check` builds it into .tools/bin). The pods
are those of the chart (`helm template`) and of the operator's render of every Exchange
the render tests use (tests/chart/renders.py). A pod that breaks the standard must be
refused, so the checker is shown to be awake.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from typing import Any

import pytest
from renders import Render, chart_renders, operator_renders, pod_specs


def pss_check(pods: list[dict[str, Any]]) -> dict[str, list[str]]:
    """pod name -> forbidden reasons (empty when restricted admits it)."""
    binary = shutil.which("pss-check")
    if binary is None:
        pytest.fail("pss-check is not on PATH: run `make pss-check` (it needs Go)")
    result = subprocess.run(
        [binary, "-level", "restricted"],
        input=json.dumps(pods), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {verdict["name"]: verdict["forbidden"] for verdict in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def renders() -> list[Render]:
    return [*chart_renders(), *operator_renders()]


def test_every_pod_is_admitted_as_restricted(renders: list[Render]) -> None:
    pods = [
        {"name": f"{item.name}: {where}", "metadata": metadata, "spec": spec}
        for item in renders
        for where, metadata, spec in pod_specs(item.objects)
    ]
    # The chart's operator and test pods, and discovery and engines of each Exchange.
    assert len(pods) >= 2 * len(renders)
    verdicts = pss_check(pods)
    assert set(verdicts) == {pod["name"] for pod in pods}
    refused = {name: reasons for name, reasons in verdicts.items() if reasons}
    assert not refused, json.dumps(refused, indent=2)


@pytest.mark.parametrize(
    "breach",
    [
        lambda spec: spec["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
        lambda spec: spec["containers"][0]["securityContext"].update(capabilities={}),
        lambda spec: spec["securityContext"].pop("seccompProfile"),
        lambda spec: spec["securityContext"].update(runAsNonRoot=False),
        lambda spec: spec["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
    ],
    ids=["escalation", "capabilities", "seccomp", "root", "host-path"],
)
def test_a_pod_that_breaks_the_standard_is_refused(renders: list[Render], breach: Any) -> None:
    (engine,) = [
        spec
        for where, _, spec in pod_specs(renders[-1].objects)
        if where.startswith("StatefulSet/") and where.endswith("-engine")
    ]
    spec = copy.deepcopy(engine)
    breach(spec)
    assert pss_check([{"name": "broken", "metadata": {}, "spec": spec}])["broken"]
