"""An Exchange's status, computed from what its children report: a pure function.

The apply step reads the StatefulSet and the Deployment; this module turns that reading
into the status the CRD declares (conditions, counts, selector, endpoint, placement), so
the rules for Ready, Progressing and Degraded live in one place and are tested without a
cluster. Condition times come in as an argument: the same inputs give the same status,
and a condition keeps its ``lastTransitionTime`` until its status really changes, as
Kubernetes' own controllers do.

Degraded says two things, the first one winning: the reconcile could not make the cluster
match the Exchange (only the reconcile handler knows whether rendering or applying
failed, so a refresh triggered by a child carries that over unchanged), or discovery's
placement has symbols electing or under-replicated (recomputed by every refresh from the
placement summary, never carried over).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dome_operator.placement import PlacementReading, placement_summary
from dome_operator.scale_down import EVACUATING, Evacuation, evacuation

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
CONDITION_TYPES = (READY, PROGRESSING, DEGRADED)
#: Degraded reasons that come from placement: recomputed, not carried over by a refresh.
ELECTING = "SymbolsElecting"
UNDER_REPLICATED = "UnderReplicated"
PLACEMENT_REASONS = (ELECTING, UNDER_REPLICATED)
#: Ready and Progressing while the engine StatefulSet, which existed, is gone (deleted by
#: hand): the drift repair recreates it on the same claims.
MISSING = "EnginesMissing"
_MISSING_MESSAGE = "the engine StatefulSet was deleted; the operator is recreating it"
#: Symbols a condition message names before it says "and N more".
_NAMED_SYMBOLS = 10


@dataclass(frozen=True)
class EngineSet:
    """What the engine StatefulSet reports (its spec and status)."""

    desired: int
    replicas: int
    ready: int
    updated: int
    observed_generation: int
    generation: int

    @property
    def rolling(self) -> bool:
        """A new pod template is not yet on every engine.

        Counted by updated pods, not by ``currentRevision``: under the OnDelete strategy
        the engines use (``rollout``), the controller never moves ``currentRevision`` on.
        """
        return self.observed_generation < self.generation or self.updated < self.replicas

    @property
    def scaling(self) -> bool:
        return self.replicas != self.desired


@dataclass(frozen=True)
class FixGatewayState:
    """What the FIX gateway's StatefulSet reports."""

    exists: bool
    ready: bool


@dataclass(frozen=True)
class Children:
    """The workloads' state; ``None`` where the object does not exist (yet)."""

    engines: EngineSet | None
    discovery_available: bool
    #: None when the Exchange has no FIX gateway (spec.fix not enabled).
    fix: FixGatewayState | None = None
    #: host:port of the external Service's load balancer, once it has one.
    external_endpoint: str | None = None
    #: ``claim: capacity of request`` for each engine volume still growing.
    volumes_growing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Degradation:
    """Why the operator could not make the cluster match the Exchange."""

    reason: str
    message: str


def exchange_status(
    exchange: Mapping[str, Any],
    children: Children,
    *,
    degraded: Degradation | None,
    placement: PlacementReading,
    endpoint: str | None,
    selector: str | None,
    generation: int,
    now: str,
    fix_endpoint: str | None = None,
) -> dict[str, Any]:
    """The full status of ``exchange`` as of its ``generation``.

    ``generation`` is the spec the operator has acted on: the reconcile handler passes the
    Exchange's own, a refresh passes the one the status already reports, so a spec edit
    the operator has not applied yet is never reported as observed. ``placement`` is what
    asking discovery gave this time. ``now`` stamps the conditions whose status changes.
    """
    wanted = exchange.get("spec", {}).get("engines")
    engines = children.engines
    ready_engines = engines.ready if engines is not None else 0
    existing = engines.replicas if engines is not None else 0
    summary = placement_summary(placement, exchange.get("status", {}).get("placement") or {})
    # Engines reported before and no StatefulSet now: it was deleted, not not-yet-made.
    missing = engines is None and int(exchange.get("status", {}).get("engines") or 0) > 0
    evacuating = None
    if engines is not None and isinstance(wanted, int) and engines.desired > wanted:
        # Held by scale_down; the engines' ids are their pods' names (NAME-engine-<n>).
        pods = f"{exchange.get('metadata', {}).get('name', '')}-engine"
        evacuating = evacuation(placement, wanted, engines.desired, pods)
    conditions = [
        _ready(children, wanted, degraded, missing=missing),
        _progressing(children, degraded, missing=missing, evacuating=evacuating),
        _degraded(degraded or placement_degradation(summary)),
    ]
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "engines": existing,
        "readyEngines": ready_engines,
        "placement": summary,
        "conditions": merge_conditions(
            exchange.get("status", {}).get("conditions", []),
            conditions,
            generation=generation,
            now=now,
        ),
    }
    if selector is not None:
        status["selector"] = selector
    if endpoint is not None:
        # Reachable from outside once a load balancer has an address: that is then the
        # address clients need (inside, the client Service's name still works).
        status["endpoint"] = children.external_endpoint or endpoint
    if children.fix is not None and fix_endpoint is not None:
        status["fix"] = fix_status(children.fix, fix_endpoint)
    elif "fix" in exchange.get("status", {}):
        status["fix"] = None  # the gateway was switched off: a merge patch drops the key
    return status


def fix_status(gateway: FixGatewayState, endpoint: str) -> dict[str, Any]:
    """status.fix: whether the gateway accepts FIX sessions, and where.

    >>> fix_status(FixGatewayState(exists=True, ready=False), "demo-fix.t.svc:9878")
    {'ready': False, 'endpoint': 'demo-fix.t.svc:9878', 'message': 'the gateway pod is not ready'}
    """
    if not gateway.exists:
        message = "the gateway StatefulSet does not exist yet"
    elif gateway.ready:
        message = "accepting FIX sessions"
    else:
        message = "the gateway pod is not ready"
    return {"ready": gateway.ready, "endpoint": endpoint, "message": message}


def current_degradation(exchange: Mapping[str, Any]) -> Degradation | None:
    """The reconcile's Degraded condition the Exchange's status carries now, if True.

    A placement reason is not the reconcile's: the refresh recomputes it.
    """
    for condition in exchange.get("status", {}).get("conditions", []):
        if condition.get("type") == DEGRADED and condition.get("status") == "True":
            if condition.get("reason") in PLACEMENT_REASONS:
                return None
            return Degradation(condition.get("reason", "Unknown"), condition.get("message", ""))
    return None


def placement_degradation(summary: Mapping[str, Any]) -> Degradation | None:
    """Degraded from a placement summary: symbols that cannot trade come before symbols
    one failure away from it. A kept summary (discovery unavailable) still counts: it is
    the latest word there is."""
    electing = list(summary.get("electing") or [])
    under = list(summary.get("underReplicated") or [])
    if electing:
        message = f"no primary while an election is open: {_named(electing)}"
        if under:
            message += f"; under-replicated: {_named(under)}"
        return Degradation(ELECTING, message)
    if under:
        return Degradation(
            UNDER_REPLICATED,
            f"fewer in-sync replicas than the replication factor: {_named(under)}",
        )
    return None


def _named(symbols: Sequence[str]) -> str:
    shown = ", ".join(symbols[:_NAMED_SYMBOLS])
    hidden = len(symbols) - _NAMED_SYMBOLS
    return f"{shown} and {hidden} more" if hidden > 0 else shown


def condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """One condition of a status by type, or None."""
    for item in status.get("conditions", []):
        if item.get("type") == kind:
            found: Mapping[str, Any] = item
            return found
    return None


def same_status(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True when writing ``new`` over ``old`` would change nothing."""
    return all(old.get(key) == value for key, value in new.items())


def status_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch that turns status ``old`` into ``new``.

    A merge patch keeps what it does not mention, so inside an object of the status a key
    ``new`` no longer has (the placement's ``unavailable`` note, an engine that left
    ``led``) is sent as null. Top-level fields ``new`` leaves out are left as they are.

    >>> status_patch({"placement": {"led": {"a": 1, "b": 2}, "unavailable": "x"}},
    ...              {"placement": {"led": {"a": 3}}})
    {'placement': {'led': {'a': 3, 'b': None}, 'unavailable': None}}
    """
    return {key: _replacing(old.get(key), value) for key, value in new.items()}


def _replacing(old: Any, new: Any) -> Any:
    if not isinstance(new, Mapping) or not isinstance(old, Mapping):
        return new
    patch = {key: _replacing(old.get(key), value) for key, value in new.items()}
    return patch | {key: None for key in old if key not in new}


def merge_conditions(
    old: Sequence[Mapping[str, Any]],
    new: Sequence[dict[str, Any]],
    *,
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """``new`` conditions, each keeping its old transition time if its status is the same."""
    previous = {item.get("type"): item for item in old}
    merged = []
    for item in new:
        before = previous.get(item["type"])
        unchanged = before is not None and before.get("status") == item["status"]
        stamp = before.get("lastTransitionTime") if unchanged and before else None
        stamped = {**item, "observedGeneration": generation, "lastTransitionTime": stamp or now}
        merged.append(stamped)
    return merged


def _ready(
    children: Children, wanted: Any, degraded: Degradation | None, *, missing: bool
) -> dict[str, Any]:
    engines = children.engines
    if degraded is not None:
        return _condition(READY, False, degraded.reason, degraded.message)
    if engines is None and missing:
        return _condition(READY, False, MISSING, _MISSING_MESSAGE)
    if engines is None:
        return _condition(READY, False, "Creating", "the engine StatefulSet does not exist yet")
    if not children.discovery_available:
        return _condition(READY, False, "DiscoveryUnavailable", "discovery is not available")
    if engines.ready < engines.desired or engines.rolling or engines.scaling:
        return _condition(
            READY,
            False,
            "EnginesNotReady",
            f"{engines.ready} of {wanted if wanted is not None else engines.desired} engines ready",
        )
    return _condition(READY, True, "AllEnginesReady", f"{engines.ready} engines ready")


def _progressing(
    children: Children,
    degraded: Degradation | None,
    *,
    missing: bool,
    evacuating: Evacuation | None = None,
) -> dict[str, Any]:
    engines = children.engines
    if degraded is not None:
        return _condition(PROGRESSING, False, degraded.reason, degraded.message)
    if engines is None and missing:
        return _condition(PROGRESSING, True, MISSING, _MISSING_MESSAGE)
    if engines is None:
        return _condition(PROGRESSING, True, "Creating", "creating the exchange's objects")
    if evacuating is not None:
        return _condition(PROGRESSING, True, EVACUATING, evacuating.message)
    if engines.scaling:
        return _condition(
            PROGRESSING, True, "Scaling", f"{engines.replicas} engines, {engines.desired} wanted"
        )
    if engines.rolling:
        return _condition(
            PROGRESSING,
            True,
            "RollingOut",
            f"{engines.updated} of {engines.replicas} engines on the new revision",
        )
    if engines.ready < engines.desired or not children.discovery_available:
        return _condition(PROGRESSING, True, "Starting", "waiting for pods to become ready")
    if children.volumes_growing:
        return _condition(
            PROGRESSING,
            True,
            "ExpandingVolumes",
            f"volumes growing: {_named(list(children.volumes_growing))}",
        )
    return _condition(PROGRESSING, False, "Stable", "nothing is rolling or scaling")


def _degraded(degraded: Degradation | None) -> dict[str, Any]:
    if degraded is None:
        return _condition(DEGRADED, False, "AsExpected", "the cluster matches the Exchange")
    return _condition(DEGRADED, True, degraded.reason, degraded.message)


def _condition(kind: str, status: bool, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
    }
