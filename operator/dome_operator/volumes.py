"""Growing the engines' volumes when ``spec.storage.size`` grows: the decisions, pure.

A StatefulSet's ``volumeClaimTemplates`` are immutable, and the claims it made from them
are its own objects, not updated with it. So, as ECK and Strimzi do, the operator grows
the volumes in two steps: it patches each engine claim (``data-NAME-engine-N``) to the
new size, which the API server allows only where the claim's StorageClass has
``allowVolumeExpansion`` (its ``PersistentVolumeClaimResize`` admission refuses it
otherwise, with a message the Exchange's status then carries), and then deletes the
StatefulSet with ``propagationPolicy: Orphan`` and lets the apply step create it again
with the new template. Orphaned pods keep running: the new StatefulSet adopts them by
its selector and, its pod template being the same, finds them on its current revision,
so nothing restarts; engines created later get claims of the new size.

``expansion`` makes the requests. Claims first, StatefulSet second: a refused resize
changes nothing (the StatefulSet keeps its old template, and the render is given that
template back so the rest of the Exchange still applies). An operator that dies between
the delete and the create finds no StatefulSet on its next reconcile, and the apply
creates it. Shrinking never reaches here: the CRD refuses it (a volume cannot shrink).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes.utils.quantity import parse_quantity


def claim_size(stateful_set: Mapping[str, Any]) -> str | None:
    """The storage request of a StatefulSet's ``data`` claim template.

    >>> data = {"name": "data"}
    >>> claim = {"metadata": data, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
    >>> claim_size({"spec": {"volumeClaimTemplates": [claim]}})
    '1Gi'
    """
    for template in stateful_set.get("spec", {}).get("volumeClaimTemplates", []):
        if template.get("metadata", {}).get("name") == "data":
            size = template.get("spec", {}).get("resources", {}).get("requests", {}).get("storage")
            return str(size) if size is not None else None
    return None


def smaller(size: str, than: str) -> bool:
    """Whether quantity ``size`` is below ``than``.

    >>> smaller("1Gi", "1024Mi"), smaller("1Gi", "2G"), smaller("1.5Gi", "1Gi")
    (False, True, False)
    """
    # The client's own quantity parser (exact, Decimal), untyped upstream.
    return bool(parse_quantity(size) < parse_quantity(than))  # type: ignore[no-untyped-call]


def claims_to_grow(claims: Sequence[Mapping[str, Any]], size: str) -> list[str]:
    """The names of the claims whose request is below ``size``, in name order."""
    return sorted(
        claim["metadata"]["name"] for claim in claims if smaller(_requested(claim) or "0", size)
    )


def growing(claims: Sequence[Mapping[str, Any]]) -> list[str]:
    """``name: capacity of request`` for each bound claim whose volume is not yet as large
    as the claim asks (the resize is with the volume's driver or the kubelet)."""
    found = []
    for claim in sorted(claims, key=lambda c: str(c["metadata"]["name"])):
        requested = _requested(claim)
        capacity = claim.get("status", {}).get("capacity", {}).get("storage")
        if requested is not None and capacity is not None and smaller(capacity, requested):
            found.append(f"{claim['metadata']['name']}: {capacity} of {requested}")
    return found


def keeping_claim_template(
    objects: Sequence[dict[str, Any]], live: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """``objects`` with the engine StatefulSet's claim templates replaced by ``live``'s,
    so applying them leaves the (immutable) templates as they are."""
    kept = []
    for obj in objects:
        if obj["kind"] == "StatefulSet" and obj["metadata"]["name"] == live["metadata"]["name"]:
            spec = {**obj["spec"], "volumeClaimTemplates": live["spec"]["volumeClaimTemplates"]}
            obj = {**obj, "spec": spec}
        kept.append(obj)
    return kept


def _requested(claim: Mapping[str, Any]) -> str | None:
    size = claim.get("spec", {}).get("resources", {}).get("requests", {}).get("storage")
    return str(size) if size is not None else None
