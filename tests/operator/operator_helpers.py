"""Shared by the operator tests: the CRD as a JSON Schema, Exchange files, YAML output.

The API server validates an Exchange against the CRD's structural schema, an OpenAPI v3
subset. ``openapi_to_jsonschema`` turns it into a JSON Schema that ``jsonschema`` can
apply, so example and bad Exchanges are judged by the very schema the chart ships. What
it cannot run are the CEL rules (``x-kubernetes-validations``) and list-map key
uniqueness; the render's own validation covers those, and the bad-Exchange tests say
which of the two refuses each file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[2]
CRD_PATH = REPO / "charts" / "dome" / "crds" / "exchanges.dome.dev.yaml"
EXAMPLES = REPO / "examples" / "k8s"
HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
GOOD_EXCHANGES = HERE / "exchanges"
BAD_EXCHANGES = HERE / "bad_exchanges"

#: What the API server would have filled in; fixed so golden files are stable.
NAMESPACE = "trading"
UID = "6b1f0a52-7a4e-4a43-9d3e-000000000001"

_SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf")
_SUBSCHEMA_KEYS = ("items", "additionalProperties", "not")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_crd() -> dict[str, Any]:
    crd: dict[str, Any] = load_yaml(CRD_PATH)
    return crd


def crd_version_schema(crd: dict[str, Any]) -> dict[str, Any]:
    """The openAPIV3Schema of the one version (v1alpha1)."""
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def openapi_to_jsonschema(node: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema with the meaning the API server gives this structural schema.

    ``x-kubernetes-*`` keys are dropped (the int-or-string ones come with an ``anyOf`` that
    says the same). Objects with declared properties refuse unknown fields: kubectl asks
    for strict field validation by default, so a typo such as ``spec.replicas`` is an
    error, not silently pruned.
    """
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out[key] = {name: openapi_to_jsonschema(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA_KEYS and isinstance(value, dict):
            out[key] = openapi_to_jsonschema(value)
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [openapi_to_jsonschema(sub) for sub in value]
        else:
            out[key] = value
    preserves_unknown = node.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in node and "additionalProperties" not in node and not preserves_unknown:
        out["additionalProperties"] = False
    return out


def exchange_validator() -> jsonschema.protocols.Validator:
    schema = openapi_to_jsonschema(crd_version_schema(load_crd()))
    # OpenAPI v3.0's schema object is an extended subset of JSON Schema draft 4.
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def schema_errors(document: dict[str, Any]) -> list[str]:
    """Every schema violation, as "path: message", empty when the document is valid."""
    errors = exchange_validator().iter_errors(document)
    return sorted(
        f"{'.'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in errors
    )


def as_admitted(document: dict[str, Any]) -> dict[str, Any]:
    """The Exchange as the operator would receive it: with a namespace and a uid."""
    metadata = {"namespace": NAMESPACE, "uid": UID, **document.get("metadata", {})}
    return {**document, "metadata": metadata}


class _ManifestDumper(yaml.SafeDumper):
    """Writes multi-line strings (the instruments file) as literal blocks, readable in review."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ManifestDumper.add_representer(str, _represent_str)


def dump_manifests(objects: list[dict[str, Any]]) -> str:
    """Multi-document YAML in render order, keys in the order the render wrote them."""
    return yaml.dump_all(
        objects, Dumper=_ManifestDumper, sort_keys=False, default_flow_style=False, width=100
    )
