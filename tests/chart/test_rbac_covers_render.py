"""The chart grants the operator what its render creates, and no Lease verb it would pass on.

The chart's RBAC and the operator's render live in different files and would drift apart
silently: the first Exchange on a real cluster would then fail with 403. This test renders
Exchanges with every optional object switched on and checks each object's kind against the
operator's rules from `helm template`, and the discovery Role it creates against the
operator's own Lease grant (RBAC lets a subject grant only what it holds).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))
from chart_render import render as helm_template
from operator_helpers import EXAMPLES, as_admitted, load_yaml

from dome_operator import render

#: Kind -> (API group, plural): the kinds the render produces.
RESOURCES = {
    "ConfigMap": ("", "configmaps"),
    "Service": ("", "services"),
    "ServiceAccount": ("", "serviceaccounts"),
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "Role": ("rbac.authorization.k8s.io", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
    "ServiceMonitor": ("monitoring.coreos.com", "servicemonitors"),
    "PrometheusRule": ("monitoring.coreos.com", "prometheusrules"),
    "Secret": ("", "secrets"),
}
#: Server-side apply, pruning and status reads.
APPLY_VERBS = {"get", "list", "watch", "create", "patch", "delete"}
#: Kinds created once and then left alone (the generated peer Secret): create only.
CREATED_ONCE = {"Secret"}


def _grants(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


def _operator_grants() -> dict[tuple[str, str], set[str]]:
    objs = helm_template()
    (role,) = [o for o in objs if o["kind"] == "Role" and o["metadata"]["name"] == "r1-dome"]
    return _grants(role["rules"])


def _everything_on() -> list[dict[str, Any]]:
    exchange = as_admitted(load_yaml(EXAMPLES / "exchange.yaml"))
    exchange["spec"]["metrics"] = {"serviceMonitor": True, "prometheusRule": True}
    exchange["spec"]["tls"] = {"secretName": "demo-tls"}
    return render(
        exchange,
        available_apis=frozenset({"monitoring.coreos.com/v1"}),
        operator_namespace="dome-system",
    )


def test_every_rendered_kind_is_granted() -> None:
    grants = _operator_grants()
    objects = _everything_on()
    kinds = {o["kind"] for o in objects}
    assert kinds <= set(RESOURCES), f"render emits kinds this test does not know: {kinds}"
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds, "an optional object is not switched on"
    for kind in sorted(kinds):
        granted = grants.get(RESOURCES[kind], set())
        needed = {"create"} if kind in CREATED_ONCE else APPLY_VERBS
        assert granted >= needed, f"{kind}: the chart grants only {sorted(granted)}"


def test_the_operator_can_create_secrets_but_read_none() -> None:
    assert _operator_grants()[("", "secrets")] == {"create"}


def test_the_operator_holds_every_permission_it_grants() -> None:
    grants = _operator_grants()
    for role in (o for o in _everything_on() if o["kind"] == "Role"):
        for key, verbs in _grants(role["rules"]).items():
            held = grants.get(key, set())
            assert verbs <= held, f"{role['metadata']['name']} grants {key} {verbs - held}"


def test_the_check_sees_a_missing_grant() -> None:
    rules = yaml.safe_load('[{"apiGroups": [""], "resources": ["services"], "verbs": ["get"]}]')
    assert not _grants(rules)[("", "services")] >= APPLY_VERBS
