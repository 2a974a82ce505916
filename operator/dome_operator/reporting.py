"""Publishing an Exchange's status: read, compute, write only on change, never backwards.

Two writers report on one Exchange: the reconcile (after it applied a spec) and the
refresh that follows the children (when a StatefulSet or Deployment changes). Each reads
the Exchange and its children, computes the status (``status.exchange_status``) and
writes it with the Exchange's resourceVersion as a precondition, so a writer that read
before the other wrote gets a conflict, reads again and recomputes instead of putting
an older picture back. A status that would not change is not written at all.

A refresh never claims a newer generation than the last reconcile reported, and keeps
the reconcile's Degraded condition; only a reconcile observes a spec.

Both ask the Exchange's discovery for its placement (``discovery_client``), once per
publication however many times a conflict makes it recompute, and only when the
discovery Deployment is available: a discovery that is not running cannot answer, and
the call would only spend its deadline.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dome_operator.apply import Cluster, KubernetesError
from dome_operator.discovery_client import read_placement
from dome_operator.exchange import Exchange, InvalidExchange, read_exchange
from dome_operator.metrics import METRICS
from dome_operator.placement import PlacementReading, Unavailable
from dome_operator.render import fix_endpoint, selector, status_endpoint
from dome_operator.status import (
    READY,
    Children,
    Degradation,
    condition,
    current_degradation,
    exchange_status,
    same_status,
    status_patch,
)

#: Reads and writes before giving up on a status that keeps changing under us.
ATTEMPTS = 5
NOT_RENDERED = Unavailable("the Exchange is invalid, so there is no discovery to ask")
NOT_RUNNING = Unavailable("the discovery Deployment has no available pod")


@dataclass(frozen=True)
class Reconciled:
    """What a reconcile reports: the generation it acted on and whether it failed."""

    generation: int
    degraded: Degradation | None


async def publish_status(
    cluster: Cluster, namespace: str, name: str, reconciled: Reconciled | None = None
) -> None:
    """Bring the Exchange's status up to date; ``reconciled`` is None for a refresh."""
    placement = _PlacementOnce()
    for _ in range(ATTEMPTS):
        exchange = await cluster.read_exchange(namespace, name)
        if exchange is None or exchange.get("metadata", {}).get("deletionTimestamp"):
            METRICS.exchange_ready(namespace, name, None)
            return  # deleted: the garbage collector is removing the children, let it
        previous = exchange.get("status") or {}
        if reconciled is not None:
            generation, degraded = reconciled.generation, reconciled.degraded
        elif "observedGeneration" in previous:
            generation = int(previous["observedGeneration"])
            degraded = current_degradation(exchange)
        else:
            return  # the first reconcile has not reported yet; it will
        status = await _status(cluster, exchange, generation, degraded, placement)
        ready = condition(status, READY)
        METRICS.exchange_ready(namespace, name, None if ready is None else str(ready["status"]))
        if same_status(previous, status):
            return
        version = str(exchange["metadata"].get("resourceVersion", ""))
        try:
            await cluster.write_status(
                namespace, name, status_patch(previous, status), resource_version=version
            )
        except KubernetesError as exc:
            if exc.status == 409:
                continue  # someone wrote since we read: read again
            raise
        await _announce_readiness(cluster, exchange, previous, status)
        return
    raise KubernetesError(
        f"the status of Exchange {namespace}/{name} kept changing while being written",
        status=409,
        retryable=True,
    )


async def _status(
    cluster: Cluster,
    exchange: dict[str, Any],
    generation: int,
    degraded: Degradation | None,
    placement: _PlacementOnce,
) -> dict[str, Any]:
    try:
        spec = read_exchange(exchange)
    except InvalidExchange:
        # Nothing was rendered for this spec; the Degraded condition says why.
        children, endpoint, engine_selector = Children(None, False), None, None
        gateway_endpoint = None
        reading: PlacementReading = NOT_RENDERED
    else:
        children = await cluster.read_children(spec)
        endpoint, engine_selector = status_endpoint(exchange), selector(exchange)
        gateway_endpoint = fix_endpoint(exchange)
        reading = await placement.read(spec, children.discovery_available)
    return exchange_status(
        exchange,
        children,
        degraded=degraded,
        placement=reading,
        endpoint=endpoint,
        selector=engine_selector,
        generation=generation,
        fix_endpoint=gateway_endpoint,
        now=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


class _PlacementOnce:
    """Asks discovery at most once per publication; a retry after a conflict reuses it."""

    def __init__(self) -> None:
        self._reading: PlacementReading | None = None

    async def read(self, exchange: Exchange, discovery_available: bool) -> PlacementReading:
        if not discovery_available:
            return NOT_RUNNING
        if self._reading is None:
            self._reading = await read_placement(exchange)
            METRICS.placement_read(not isinstance(self._reading, Unavailable))
        return self._reading


async def _announce_readiness(
    cluster: Cluster, exchange: dict[str, Any], old: Mapping[str, Any], new: Mapping[str, Any]
) -> None:
    """An Event when the exchange becomes ready, a Warning when it stops being ready.

    Posted through ``cluster``, not ``kopf.info``: the status refresher runs outside any
    kopf handler, where kopf cannot post (it raised, and ended the refresher). An Event
    is auxiliary, so failing to post one is logged, not raised.
    """
    was = condition(old, READY)
    now = condition(new, READY)
    if now is None or (was is not None and was.get("status") == now.get("status")):
        return
    if now.get("status") == "True":
        reason, message, warning = "Ready", str(now.get("message")), False
    elif was is not None:
        reason, message, warning = "NotReady", f"{now.get('reason')}: {now.get('message')}", True
    else:
        return
    try:
        await cluster.post_event(exchange, reason=reason, message=message, warning=warning)
    except KubernetesError as exc:
        cluster.logger.warning(f"could not post a {reason} event: {exc}")
