"""The Helm chart rendered by a real helm, and the questions the chart tests ask of it.

`render` runs `helm template` at the oldest Kubernetes we support; `MATRIX` holds the
values cases that together reach every branch of the templates (the scanners in
renders.py use it too). helm comes from `make tools`; without it the chart tests fail
rather than skip, because a chart nobody renders is a chart nobody tested.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from dome_operator.versions import OLDEST_SUPPORTED_KUBERNETES

Obj = dict[str, Any]

CHART = Path(__file__).resolve().parents[2] / "charts" / "dome"
RELEASE = "r1"
NAMESPACE = "dome-system"
FULLNAME = "r1-dome"
HOOK = "helm.sh/hook"

# Kinds the chart may render. Anything else fails the test instead of going unvalidated.
CORE_KINDS = {
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Deployment",
    "Service",
    "ConfigMap",
    "Pod",
    "CustomResourceDefinition",
    "NetworkPolicy",
}

# name -> helm flags. Together they reach every branch of the templates.
MATRIX: dict[str, list[str]] = {
    "defaults": [],
    "cluster-wide": ["--set", "clusterWide=true"],
    "namespaces": ["--set", "watchNamespaces={team-a,team-b,team-c}"],
    "monitoring": [
        "--set",
        "metrics.serviceMonitor.enabled=true,dashboards.enabled=true",
        "--set",
        "metrics.serviceMonitor.labels.release=prometheus,metrics.serviceMonitor.scrapeTimeout=10s",
    ],
    "custom": [
        "--set",
        "image.repository=registry.example.com/dome,image.tag=1.2.3,image.pullPolicy=Always",
        "--set",
        "resources.requests.cpu=1,resources.limits.memory=1Gi,resources.limits.cpu=2",
        "--set",
        "serviceAccount.create=false,serviceAccount.name=dome-operator",
        "--set",
        "imagePullSecrets[0].name=regcred,priorityClassName=system-cluster-critical",
        "--set",
        "extraArgs={--verbose},extraEnv[0].name=DOME_LOG,extraEnv[0].value=debug",
        "--set",
        "nodeSelector.kubernetes\\.io/os=linux,podLabels.team=trading,podAnnotations.a=b",
        "--set",
        "tolerations[0].key=dedicated,tolerations[0].operator=Exists",
        "--set",
        "replicaCount=0,fullnameOverride=dome-operator",
    ],
}


def helm_binary() -> str:
    path = shutil.which("helm")
    if path is None:
        pytest.fail("helm is not on PATH: run `make tools` (it installs .tools/bin/helm)")
    return path


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, timeout=60, check=False
    )


def render(*flags: str, chart: Path = CHART) -> list[Obj]:
    result = run_helm(
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        OLDEST_SUPPORTED_KUBERNETES,
        *flags,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def refused(*flags: str) -> str:
    """helm template's error output for values that must not render."""
    result = run_helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *flags)
    assert result.returncode != 0, f"rendered although it should not: {flags}"
    return result.stderr


def validate(obj: Obj) -> None:
    kind = obj["kind"]
    if kind == "ServiceMonitor":
        check_service_monitor_shape(obj)
        return
    assert kind in CORE_KINDS, f"unexpected kind {kind}"
    kubernetes_validate.validate(obj, OLDEST_SUPPORTED_KUBERNETES, strict=True)


def check_service_monitor_shape(obj: Obj) -> None:
    # kubernetes-validate knows only built-in kinds; the prometheus-operator CRD is not a
    # test dependency, so check the fields this chart sets against its documented types.
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}
    spec = obj["spec"]
    assert set(spec) <= {"selector", "namespaceSelector", "endpoints"}
    assert isinstance(spec["selector"]["matchLabels"], dict)
    assert all(isinstance(ns, str) for ns in spec["namespaceSelector"]["matchNames"])
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
        assert isinstance(endpoint["port"], str)
        assert endpoint["path"].startswith("/")
        for key in ("interval", "scrapeTimeout"):
            if key in endpoint:
                assert re.fullmatch(r"([0-9]+(ms|s|m|h))+", endpoint[key]), endpoint[key]


def of_kind(objs: list[Obj], kind: str, *, hooks: bool = False) -> list[Obj]:
    """Objects of one kind; `helm test` hooks only when asked for."""
    return [
        obj
        for obj in objs
        if obj["kind"] == kind and (HOOK in obj["metadata"].get("annotations", {})) == hooks
    ]


def only(objs: list[Obj], kind: str, *, hooks: bool = False) -> Obj:
    found = of_kind(objs, kind, hooks=hooks)
    assert len(found) == 1, [obj["metadata"]["name"] for obj in found]
    return found[0]


def pod_specs(objs: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for obj in objs:
        if obj["kind"] == "Pod":
            yield obj["metadata"]["name"], obj["spec"]
        elif obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def rules_of(role: Obj) -> list[Obj]:
    rules: list[Obj] = role["rules"]
    return rules
