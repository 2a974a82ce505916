"""The Helm chart, rendered by a real helm and judged against Kubernetes' own schemas.

`helm template` runs under a matrix of values (chart_render.MATRIX); every object it
renders (and the CRD) must validate strictly against the API schemas of the oldest
Kubernetes we support, and the chart must pass `helm lint --strict`. The chart's promises
are checked on the parsed output beside this module: pods (test_chart_pods.py), RBAC
(test_chart_rbac.py), values and their schema (test_chart_values.py), monitoring and the
helm test hook (test_chart_monitoring.py), NOTES.txt (test_chart_notes.py).
"""

from __future__ import annotations

import pytest
import yaml
from chart_render import (
    CHART,
    MATRIX,
    NAMESPACE,
    Obj,
    of_kind,
    only,
    render,
    run_helm,
    validate,
)

from dome_operator.versions import OLDEST_SUPPORTED_KUBERNETES


def test_helm_is_installed() -> None:
    assert run_helm("version", "--short").stdout.startswith("v3.")


@pytest.mark.parametrize("case", ["defaults", "monitoring"])
def test_lint_strict(case: str) -> None:
    result = run_helm("lint", "--strict", str(CHART), "--namespace", NAMESPACE, *MATRIX[case])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_object_validates_against_the_oldest_kubernetes(
    rendered: tuple[str, list[Obj]],
) -> None:
    _, objs = rendered
    assert objs
    for obj in objs:
        validate(obj)


def test_chart_floor_is_the_operator_floor() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    major, minor, _ = OLDEST_SUPPORTED_KUBERNETES.split(".")
    assert chart["kubeVersion"] == f">={major}.{minor}.0-0"
    assert chart["appVersion"] == "0.1.0"


def test_crd_comes_with_include_crds_only() -> None:
    without = render()
    assert not of_kind(without, "CustomResourceDefinition")
    crd = only(render("--include-crds"), "CustomResourceDefinition")
    assert crd["metadata"]["name"] == "exchanges.dome.dev"
    validate(crd)
