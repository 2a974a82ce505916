"""What the operator applies, as data: the kinds, their paths, the stamps, the comparison.

Pure (no I/O; ``dome_operator.apply`` does the requests): the kinds the render may
produce and so the operator may create or prune, each object's API path, the
applied-hash stamp that lets an unchanged object go unsent, the generated values of a
created-once Secret, and ``contains``, the field-by-field test ``repair`` uses to see
drift.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from dome.peer_auth import new_secret
from dome_operator.metadata import GENERATED_KEYS_ANNOTATION

APPLIED_HASH_ANNOTATION = "dome.dev/applied-hash"

#: Every kind the render can produce, with its resource (plural) name. Pruning looks at
#: these kinds only: the operator never deletes what it could not have created.
RESOURCES: Mapping[tuple[str, str], str] = {
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "ServiceAccount"): "serviceaccounts",
    ("v1", "Service"): "services",
    ("rbac.authorization.k8s.io/v1", "Role"): "roles",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "rolebindings",
    ("apps/v1", "Deployment"): "deployments",
    ("apps/v1", "StatefulSet"): "statefulsets",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudgets",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitors",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrules",
}
#: Kinds the render produces that are created once and then left alone (not compared,
#: updated or pruned): Secrets with generated values.
CREATED_ONCE: Mapping[tuple[str, str], str] = {("v1", "Secret"): "secrets"}


def resource_url(
    api_version: str,
    plural: str,
    namespace: str,
    name: str | None = None,
    *,
    subresource: str | None = None,
    params: Mapping[str, str] | None = None,
) -> str:
    """The path of a namespaced object (or of its collection when ``name`` is None)."""
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{root}/namespaces/{namespace}/{plural}"
    if name is not None:
        path += f"/{name}"
    if subresource is not None:
        path += f"/{subresource}"
    if params:
        path += "?" + urllib.parse.urlencode(params)
    return path


def with_applied_hash(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` annotated with a hash of its own content (stable across key order)."""
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
    metadata = dict(obj["metadata"])
    metadata["annotations"] = {**metadata.get("annotations", {}), APPLIED_HASH_ANNOTATION: digest}
    return {**obj, "metadata": metadata}


def generated_keys(obj: Mapping[str, Any]) -> list[str]:
    """The keys the apply step fills with random values when it creates ``obj``."""
    listed = annotation(obj, GENERATED_KEYS_ANNOTATION) or ""
    return [key for key in listed.split(",") if key]


def with_generated_values(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` with a fresh random value (base64, as Secret ``data`` is) per generated key."""
    data = {key: base64.b64encode(new_secret().encode()).decode() for key in generated_keys(obj)}
    return {**obj, "data": data}


def object_key(obj: Mapping[str, Any]) -> str:
    """``Kind/name``: how events and logs name a child."""
    return f"{obj['kind']}/{obj['metadata']['name']}"


def object_url(obj: Mapping[str, Any]) -> str:
    plural = RESOURCES[(obj["apiVersion"], obj["kind"])]
    metadata = obj["metadata"]
    return resource_url(obj["apiVersion"], plural, metadata["namespace"], metadata["name"])


def annotation(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get("metadata", {}).get("annotations", {}).get(key)
    return value if isinstance(value, str) else None


def contains(live: Any, desired: Any) -> bool:
    """Whether ``live`` holds every field of ``desired`` with its value.

    Mappings may have more keys (defaults, controllers' fields); lists must have the
    same length, item by item.

    >>> contains({"a": 1, "b": {"c": [{"d": 2, "e": 3}]}}, {"b": {"c": [{"d": 2}]}})
    True
    >>> contains({"spec": {"replicas": 5}}, {"spec": {"replicas": 3}})
    False
    """
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(
            key in live and contains(live[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(have, want) for have, want in zip(live, desired, strict=True))
        )
    return bool(live == desired)


def resource_version(obj: Any) -> str | None:
    version = obj.get("metadata", {}).get("resourceVersion") if isinstance(obj, dict) else None
    return version if isinstance(version, str) else None


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    references = obj.get("metadata", {}).get("ownerReferences", [])
    return any(reference.get("uid") == uid for reference in references)
