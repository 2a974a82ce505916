"""Drift repair: children deleted or edited by hand are put back by a periodic resync.

A reconcile runs when the Exchange changes, and skips a child whose hash annotation
matches what it renders; neither notices a ``kubectl delete service`` or a ``kubectl
edit statefulset`` (the edit keeps the annotation). So the operator's status refresher,
every ``STATUS_REFRESH_S`` for every Exchange it has reconciled, also re-renders the
Exchange and applies every child regardless of its hash (``Cluster.repair``): the API
server persists only the writes that change something, and those are the drift.

The resync repairs only a settled Exchange: its last reconcile succeeded for the spec
it holds now (``status.observedGeneration`` is ``metadata.generation`` and no reconcile
failure is reported). A spec edit in flight, or one the reconcile could not apply, is
the reconcile handler's to retry and report; a resync would only race it or bury its
Degraded reason under another.

The cost: one GET per child per resync, and a PATCH only for a child that is missing or
differs from the render; that buys a bound on how long a deleted Service stays deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dome_operator.apply import Cluster
from dome_operator.exchange import InvalidExchange
from dome_operator.render import render
from dome_operator.status import current_degradation

#: The Degraded reason of a resync whose repair failed; the next one that succeeds clears it.
REPAIR_FAILED = "RepairFailed"


def settled(exchange: Mapping[str, Any]) -> bool:
    """Whether the last reconcile applied this spec and reported no failure of its own."""
    generation = exchange.get("metadata", {}).get("generation")
    observed = (exchange.get("status") or {}).get("observedGeneration")
    if generation is None or observed != generation:
        return False
    degraded = current_degradation(exchange)
    return degraded is None or degraded.reason == REPAIR_FAILED


async def repair(
    cluster: Cluster, exchange: Mapping[str, Any], operator_namespace: str | None
) -> list[str]:
    """Re-apply every child of a settled ``exchange``; the ``Kind/name`` of those restored.

    Raises ``KubernetesError`` when the API server refuses or does not answer.
    """
    apis = await cluster.available_apis()
    try:
        objects = render(exchange, available_apis=apis, operator_namespace=operator_namespace)
    except InvalidExchange:
        return []  # settled() saw a reconcile succeed on this spec; nothing to compare to
    return await cluster.repair(objects)
