"""The chart README's RBAC table says what the chart's Role really grants.

The table is what a cluster admin reads before installing; the Role is what the API server
enforces. They live in different files, and once already drifted (the table said no
PrometheusRule was granted while the Role granted it). Each table row names an API group,
resources and verbs ("same" repeats the row above); together the rows must be exactly the
namespaced operator Role's grants.
"""

from __future__ import annotations

import re

from chart_render import CHART, FULLNAME, of_kind, render, rules_of

Grants = dict[tuple[str, str], frozenset[str]]


def _table_grants(readme: str) -> Grants:
    section = readme.split("### RBAC", 1)[1].split("\n\n", 2)[2]
    grants: Grants = {}
    verbs: frozenset[str] = frozenset()
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| API group") or "---" in line:
            if grants:
                break
            continue
        group, resources, verb_cell = (cell.strip() for cell in line.strip("|").split("|")[:3])
        group = "" if group == "core" else group.strip("`")
        if verb_cell != "same":
            verbs = frozenset(v.strip() for v in verb_cell.split(","))
        for resource in re.findall(r"`([^`]+)`", resources):
            grants[(group, resource)] = verbs
    return grants


def _role_grants() -> Grants:
    (role,) = [o for o in of_kind(render(), "Role") if o["metadata"]["name"] == FULLNAME]
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in rules_of(role):
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return {key: frozenset(verbs) for key, verbs in grants.items()}


def test_the_readme_table_lists_exactly_the_role_grants() -> None:
    table = _table_grants((CHART / "README.md").read_text())
    role = _role_grants()
    assert set(table) == set(role), (
        f"only in the README: {sorted(set(table) - set(role))}; "
        f"only in the Role: {sorted(set(role) - set(table))}"
    )
    wrong = {key: (table[key], role[key]) for key in role if table[key] != role[key]}
    assert not wrong, f"README verbs differ from the Role's: {wrong}"


def test_no_granted_resource_is_described_as_not_granted() -> None:
    readme = (CHART / "README.md").read_text()
    assert "none is granted" not in readme, "the README says a granted resource is not"


def test_the_parser_reads_same_as_the_row_above() -> None:
    table = _table_grants(
        "### RBAC\n\nintro\n\n| API group | resources | verbs | why |\n|---|---|---|---|\n"
        "| core | `a`, `b` | get, list | x |\n| `g.io` | `c` | same | y |\n\nafter\n"
    )
    assert table == {
        ("", "a"): frozenset({"get", "list"}),
        ("", "b"): frozenset({"get", "list"}),
        ("g.io", "c"): frozenset({"get", "list"}),
    }
