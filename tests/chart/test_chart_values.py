"""The chart's values: the schema refuses what cannot work, and every value is documented."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml
from chart_render import (
    CHART,
    refused,
)

SCHEMA_ERROR = "values don't meet the specifications of the schema"


@pytest.mark.parametrize(
    "flags",
    [
        ["--set", "replicaCount=2"],
        ["--set", "image.pullPolicy=Sometimes"],
        ["--set", "watchNamespaces={Not_A_Namespace}"],
        ["--set", "replicas=1"],
        ["--set", "metrics.serviceMonitor.interval=often"],
        ["--set", "clusterWide=yes"],
    ],
    ids=lambda flags: flags[-1],
)
def test_schema_refuses_bad_values(flags: list[str]) -> None:
    assert SCHEMA_ERROR in refused(*flags)


def test_cluster_wide_with_namespaces_is_refused() -> None:
    error = refused("--set", "clusterWide=true,watchNamespaces={team-a}")
    assert "watchNamespaces must be empty when clusterWide is true" in error


def test_existing_service_account_needs_a_name() -> None:
    assert "serviceAccount.name must name an existing" in refused(
        "--set", "serviceAccount.create=false"
    )


def test_defaults_satisfy_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(values, schema)
    assert set(schema["properties"]) - {"global"} == set(values)


def documented_keys() -> list[str]:
    """Dotted paths of the keys in values.yaml that carry a `# --` comment. A key without
    one must be a section whose keys have one; the keys under a documented key are its
    default value, not separate values."""
    keys: list[str] = []
    path: list[tuple[int, str]] = []
    comment: list[str] = []
    skip_deeper_than: int | None = None
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        if not stripped:
            comment = []
            continue
        indent = len(line) - len(line.lstrip())
        if stripped.startswith("#"):
            comment.append(stripped)
            continue
        if skip_deeper_than is not None and indent > skip_deeper_than:
            continue
        skip_deeper_than = None
        match = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*):(.*)", stripped)
        assert match, f"values.yaml: unexpected line {line!r}"
        name, value = match.groups()
        path = [(i, n) for i, n in path if i < indent] + [(indent, name)]
        dotted = ".".join(n for _, n in path)
        if any(c.startswith("# --") for c in comment):
            keys.append(dotted)
            skip_deeper_than = indent
        else:
            assert not value.strip(), f"values.yaml: {dotted} has no '# --' comment"
        comment = []
    return keys


def test_every_value_is_documented_in_values_and_readme() -> None:
    keys = documented_keys()
    assert "image.repository" in keys
    assert "metrics.serviceMonitor.enabled" in keys
    readme = (CHART / "README.md").read_text()
    missing = [key for key in keys if f"`{key}`" not in readme]
    assert not missing, f"charts/dome/README.md does not list {missing}"
