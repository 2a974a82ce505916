"""The Exchange CRD: a valid CRD for the oldest supported Kubernetes, whose schema accepts
the examples and, together with the render's own checks, refuses every bad Exchange."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from operator_helpers import (
    BAD_EXCHANGES,
    EXAMPLES,
    GOOD_EXCHANGES,
    as_admitted,
    crd_version_schema,
    load_crd,
    load_yaml,
    schema_errors,
)

from dome.accounts import hash_token, load_accounts, load_tokens
from dome_operator import OLDEST_SUPPORTED_KUBERNETES, InvalidExchange, render
from dome_operator import exchange as operator_defaults

GOOD = [EXAMPLES / "exchange.yaml", *sorted(GOOD_EXCHANGES.glob("*.yaml"))]


def _schema_at(path: str) -> dict[str, Any]:
    """The sub-schema at a dotted path such as ``.spec.engines``."""
    node = crd_version_schema(load_crd())
    for part in path.strip(".").split("."):
        if node.get("type") == "array":
            node = node["items"]
        node = node["properties"][part]
    return node


def test_crd_is_valid_for_the_oldest_supported_kubernetes() -> None:
    kubernetes_validate.validate(load_crd(), OLDEST_SUPPORTED_KUBERNETES, strict=True)


def test_scale_subresource_points_at_fields_of_the_right_type() -> None:
    (version,) = load_crd()["spec"]["versions"]
    scale = version["subresources"]["scale"]
    assert _schema_at(scale["specReplicasPath"])["type"] == "integer"
    assert _schema_at(scale["statusReplicasPath"])["type"] == "integer"
    assert _schema_at(scale["labelSelectorPath"])["type"] == "string"
    assert "status" in version["subresources"]


def test_printer_columns_read_fields_the_schema_declares() -> None:
    (version,) = load_crd()["spec"]["versions"]
    names = [column["name"] for column in version["additionalPrinterColumns"]]
    assert names[:4] == ["Engines", "Ready", "Status", "Endpoint"]
    assert names[-1] == "Age"
    for column in version["additionalPrinterColumns"]:
        path = re.sub(r"\[[^]]*\]", "", column["jsonPath"])  # drop the condition filter
        if not path.startswith(".metadata"):
            _schema_at(path)  # raises KeyError for a column that reads nothing


def test_crd_defaults_agree_with_the_operator() -> None:
    spec = _schema_at(".spec")["properties"]
    assert spec["engines"]["default"] == operator_defaults.DEFAULT_ENGINES
    assert spec["replication"]["properties"]["acks"]["default"] == operator_defaults.DEFAULT_ACKS
    assert spec["replication"]["properties"]["acks"]["enum"] == list(operator_defaults.ACKS_MODES)
    assert (
        spec["storage"]["properties"]["size"]["default"] == operator_defaults.DEFAULT_STORAGE_SIZE
    )
    image = spec["image"]["properties"]
    assert image["repository"]["default"] == operator_defaults.DEFAULT_IMAGE_REPOSITORY
    assert image["tag"]["default"] == operator_defaults.DEFAULT_IMAGE_TAG
    assert image["pullPolicy"]["default"] == operator_defaults.DEFAULT_PULL_POLICY
    discovery = spec["discovery"]["properties"]["replicas"]
    assert discovery["default"] == operator_defaults.DEFAULT_DISCOVERY_REPLICAS
    assert discovery["minimum"] == 1
    for switch in ("serviceMonitor", "prometheusRule"):
        assert spec["metrics"]["properties"][switch]["default"] is False
    # Resources have no schema default (a partial user value would replace it wholesale);
    # the description promises the operator's.
    description = spec["resources"]["description"]
    for quantities in operator_defaults.DEFAULT_RESOURCES.values():
        for quantity in quantities.values():
            assert quantity in description


@pytest.mark.parametrize("path", GOOD, ids=lambda path: path.stem)
def test_good_exchanges_pass_the_schema_and_render(path: Path) -> None:
    document = load_yaml(path)
    assert schema_errors(document) == []
    assert render(as_admitted(document))


def _expectation(path: Path) -> tuple[str, str]:
    """(refused-by, because) from the file's ``# refused-by:`` and ``# because:`` lines."""
    header: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, separator, value = line.removeprefix("# ").partition(": ")
        if line.startswith("# ") and separator and key in ("refused-by", "because"):
            header[key] = value
    return header["refused-by"], header["because"]


BAD = sorted(BAD_EXCHANGES.glob("*.yaml"))


@pytest.mark.parametrize(
    "path", BAD, ids=[f"{path.stem}-refused-by-{_expectation(path)[0]}" for path in BAD]
)
def test_bad_exchanges_are_refused(path: Path) -> None:
    refused_by, because = _expectation(path)
    document = load_yaml(path)
    if refused_by == "schema":
        errors = schema_errors(document)
        assert any(because in error for error in errors), errors
    else:
        assert refused_by == "render", f"{path.name}: unknown refuser {refused_by!r}"
        # Worth stating: the schema lets these through (CEL and list-map keys are beyond
        # jsonschema), so the render's check is the one that counts here.
        assert schema_errors(document) == []
        with pytest.raises(InvalidExchange, match=re.escape(because)):
            render(as_admitted(document))


def test_there_are_bad_exchanges_for_both_refusers() -> None:
    assert {_expectation(path)[0] for path in BAD} == {"schema", "render"}


def test_example_accounts_secret_is_what_the_example_exchange_needs(tmp_path: Path) -> None:
    secret = load_yaml(EXAMPLES / "accounts-secret.yaml")
    kubernetes_validate.validate(secret, OLDEST_SUPPORTED_KUBERNETES, strict=True)
    assert (
        secret["metadata"]["name"]
        == (load_yaml(EXAMPLES / "exchange.yaml")["spec"]["auth"]["accountsSecret"])
    )
    accounts_file = tmp_path / "accounts.json"
    accounts_file.write_text(secret["stringData"]["accounts.json"])
    # Hashes only, and exactly those of the example's client-side tokens.
    tokens = load_tokens(EXAMPLES / "tokens.json")
    assert load_accounts(accounts_file) == {name: hash_token(t) for name, t in tokens.items()}
    for token in tokens.values():
        assert token not in accounts_file.read_text()
