"""The chart's RBAC: no wildcards or escalation verbs, scoped as the values ask."""

from __future__ import annotations

import pytest
from chart_render import (
    FULLNAME,
    MATRIX,
    NAMESPACE,
    Obj,
    of_kind,
    only,
    render,
    rules_of,
)

# (apiGroup, resource) -> verbs the operator must hold: what it renders for an Exchange,
# what it reads, and what kopf needs. Kept here, not derived from the template, so that a
# change to either side shows up as a test failure.
MANAGE = {"get", "list", "watch", "create", "update", "patch", "delete"}
OPERATOR_NEEDS: dict[tuple[str, str], set[str]] = {
    ("dome.dev", "exchanges"): {"get", "list", "watch", "patch"},
    ("dome.dev", "exchanges/status"): {"patch"},
    ("dome.dev", "exchanges/finalizers"): {"update"},
    ("", "configmaps"): MANAGE,
    ("", "services"): MANAGE,
    ("", "serviceaccounts"): MANAGE,
    ("apps", "deployments"): MANAGE,
    ("apps", "statefulsets"): MANAGE,
    ("policy", "poddisruptionbudgets"): MANAGE,
    ("networking.k8s.io", "networkpolicies"): MANAGE,
    ("rbac.authorization.k8s.io", "roles"): MANAGE,
    ("rbac.authorization.k8s.io", "rolebindings"): MANAGE,
    ("monitoring.coreos.com", "servicemonitors"): MANAGE,
    ("monitoring.coreos.com", "prometheusrules"): MANAGE,
    # Exactly what the discovery pods' Role grants: RBAC only lets the operator grant
    # what it holds.
    # (delete: owner references on the Leases, under OwnerReferencesPermissionEnforcement).
    ("coordination.k8s.io", "leases"): {
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
    },
    ("", "events"): {"create"},
    # The engines' claims: read for status, patched to grow them (never created or
    # deleted: the StatefulSet controller owns that).
    ("", "persistentvolumeclaims"): {"get", "list", "patch"},
    # Engine rollouts delete one outdated pod at a time (never create: the controller does).
    ("", "pods"): {"get", "list", "delete"},
    # Each Exchange's peer secret, created once; never read (see below).
    ("", "secrets"): {"create"},
}
CRD_READ: dict[tuple[str, str], set[str]] = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
}


def grants(role: Obj) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs, flattened over the role's rules."""
    table: dict[tuple[str, str], set[str]] = {}
    for rule in rules_of(role):
        assert "resourceNames" not in rule or role["metadata"]["name"].endswith("-test")
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                table.setdefault((group, resource), set()).update(rule["verbs"])
    return table


def test_no_wildcards_or_escalation_verbs(rendered: tuple[str, list[Obj]]) -> None:
    _, objs = rendered
    roles = [obj for obj in objs if obj["kind"] in ("Role", "ClusterRole")]
    assert roles
    for role in roles:
        assert "aggregationRule" not in role
        for rule in rules_of(role):
            assert "nonResourceURLs" not in rule
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                for item in rule.get(key, []):
                    assert "*" not in item, (role["metadata"]["name"], rule)
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule
            # The operator creates peer Secrets but can read none (accounts tokens).
            if "secrets" in rule["resources"]:
                assert set(rule["verbs"]) == {"create"}, rule


@pytest.mark.parametrize("case", ["defaults", "namespaces"])
def test_namespaced_rbac(case: str) -> None:
    objs = render(*MATRIX[case])
    watched = ["team-a", "team-b", "team-c"] if case == "namespaces" else [NAMESPACE]
    # The only ClusterRole reads CRDs: kopf's resource discovery is cluster-scoped.
    cluster_role = only(objs, "ClusterRole")
    assert grants(cluster_role) == CRD_READ
    binding = only(objs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == cluster_role["metadata"]["name"]
    roles = of_kind(objs, "Role")
    assert sorted(role["metadata"]["namespace"] for role in roles) == sorted(watched)
    for role in roles:
        assert grants(role) == OPERATOR_NEEDS
    bindings = of_kind(objs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted(watched)
    for b in bindings:
        assert b["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": FULLNAME,
        }
        assert b["subjects"] == [
            {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
        ]


def test_cluster_wide_rbac() -> None:
    objs = render(*MATRIX["cluster-wide"])
    assert not of_kind(objs, "Role")
    assert not of_kind(objs, "RoleBinding")
    cluster_role = only(objs, "ClusterRole")
    assert grants(cluster_role) == OPERATOR_NEEDS | CRD_READ
    binding = only(objs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == cluster_role["metadata"]["name"] == FULLNAME
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
    ]


def test_rbac_can_be_left_to_an_admin() -> None:
    objs = render("--set", "rbac.create=false")
    for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
        assert not of_kind(objs, kind)
