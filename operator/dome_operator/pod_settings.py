"""What users set on an exchange's pods and client Service: scheduling and metadata.

``spec.pods`` applies to every pod of the exchange (engines and discovery): nodeSelector,
tolerations, affinity, priorityClassName, imagePullSecrets, extra annotations and
labels, and a zone spread for the engines; ``spec.service`` adds metadata to the client
Service (a cloud load balancer's annotations go there). The operator's own labels and
annotations always win: its selectors and checksums must mean what they say, so the CRD
(CEL) and ``read_pod_settings`` refuse ``app.kubernetes.io/`` and ``dome.dev/`` keys.

Affinity is passed through as written: the API server checks it, as a Pod's, when the
operator applies the workloads (an invalid one is refused there and reported Degraded
``ApplyRejected``); the CRD only knows its three kinds, so a misspelt one is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RESERVED_PREFIXES = ("app.kubernetes.io/", "dome.dev/")
AFFINITY_KINDS = ("nodeAffinity", "podAffinity", "podAntiAffinity")
ZONE_KEY = "topology.kubernetes.io/zone"


class InvalidPodSettings(ValueError):
    """spec.pods or spec.service holds something the render cannot use."""


@dataclass(frozen=True)
class ExtraMetadata:
    """Annotations and labels added to an object the operator renders."""

    annotations: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()

    def onto(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """``metadata`` with these added under the operator's own (which win)."""
        out = dict(metadata)
        for key, extra in (("annotations", self.annotations), ("labels", self.labels)):
            if extra:
                out[key] = {**dict(extra), **metadata.get(key, {})}
        return out


@dataclass(frozen=True)
class PodSettings:
    """spec.pods: every field as the pod spec takes it; JSON text for nested objects so
    the settings stay hashable and comparable."""

    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations_json: str = "[]"
    affinity_json: str = "{}"
    priority_class: str | None = None
    pull_secrets: tuple[str, ...] = ()
    metadata: ExtraMetadata = field(default_factory=ExtraMetadata)
    zone_spread: bool = False

    def onto(self, pod: dict[str, Any]) -> dict[str, Any]:
        """A pod spec (from ``pods.pod_spec``) with these scheduling settings."""
        out = dict(pod)
        if self.node_selector:
            out["nodeSelector"] = dict(self.node_selector)
        tolerations = json.loads(self.tolerations_json)
        if tolerations:
            out["tolerations"] = tolerations
        affinity = json.loads(self.affinity_json)
        if affinity:
            out["affinity"] = affinity
        if self.priority_class:
            out["priorityClassName"] = self.priority_class
        if self.pull_secrets:
            out["imagePullSecrets"] = [{"name": name} for name in self.pull_secrets]
        return out


def read_pod_settings(spec: Mapping[str, Any]) -> tuple[PodSettings, ExtraMetadata]:
    """spec.pods and spec.service, checked; raises ``InvalidPodSettings`` naming the field."""
    pods = _object(spec.get("pods"), "spec.pods")
    tolerations = pods.get("tolerations") or []
    if not isinstance(tolerations, list) or not all(isinstance(t, Mapping) for t in tolerations):
        raise InvalidPodSettings("spec.pods.tolerations: expected a list of objects")
    affinity = _object(pods.get("affinity"), "spec.pods.affinity")
    unknown = sorted(set(affinity) - set(AFFINITY_KINDS))
    if unknown:
        raise InvalidPodSettings(f"spec.pods.affinity: unknown keys {unknown}")
    secrets = pods.get("imagePullSecrets") or []
    if not isinstance(secrets, list) or not all(
        isinstance(s, Mapping) and isinstance(s.get("name"), str) and s["name"] for s in secrets
    ):
        raise InvalidPodSettings("spec.pods.imagePullSecrets: expected [{name: SECRET}, ...]")
    priority = pods.get("priorityClassName")
    if priority is not None and not isinstance(priority, str):
        raise InvalidPodSettings("spec.pods.priorityClassName: expected a string")
    zone_spread = pods.get("zoneSpread", False)
    if not isinstance(zone_spread, bool):
        raise InvalidPodSettings("spec.pods.zoneSpread: expected true or false")
    settings = PodSettings(
        node_selector=_strings(pods.get("nodeSelector"), "spec.pods.nodeSelector"),
        tolerations_json=json.dumps(tolerations, sort_keys=True),
        affinity_json=json.dumps(affinity, sort_keys=True),
        priority_class=priority or None,
        pull_secrets=tuple(s["name"] for s in secrets),
        metadata=_extra_metadata(pods, "spec.pods"),
        zone_spread=zone_spread,
    )
    service = _extra_metadata(_object(spec.get("service"), "spec.service"), "spec.service")
    return settings, service


def _extra_metadata(section: Mapping[str, Any], where: str) -> ExtraMetadata:
    annotations = _strings(section.get("annotations"), f"{where}.annotations")
    labels = _strings(section.get("labels"), f"{where}.labels")
    for kind, pairs in (("annotations", annotations), ("labels", labels)):
        reserved = [key for key, _ in pairs if key.startswith(RESERVED_PREFIXES)]
        if reserved:
            raise InvalidPodSettings(
                f"{where}.{kind}: {reserved}: app.kubernetes.io/ and dome.dev/ keys are the "
                "operator's"
            )
    return ExtraMetadata(annotations=annotations, labels=labels)


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidPodSettings(f"{where}: expected an object, got {value!r}")
    return value


def _strings(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    mapping = _object(value, where)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise InvalidPodSettings(f"{where}: expected string keys and values")
    return tuple(sorted(mapping.items()))
