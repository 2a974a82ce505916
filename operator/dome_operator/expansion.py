"""Growing the engines' volumes, step by step through the API (``volumes`` says why so).

Claims first, then the StatefulSet: a refused resize changes nothing, and the render is
given the live claim template back so the rest of the Exchange still applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dome_operator.apply import Cluster, KubernetesError
from dome_operator.exchange import Exchange
from dome_operator.status import Degradation
from dome_operator.volumes import claim_size, claims_to_grow, keeping_claim_template, smaller

#: The Degraded reason while the API server refuses to grow the claims.
EXPANSION_REFUSED = "VolumeExpansionRefused"
#: Seconds to wait for the orphaning delete of the StatefulSet to finish.
DELETE_SECONDS = 30.0


@dataclass(frozen=True)
class Expansion:
    """What growing the volumes did: the objects to apply, the claims it resized, and
    why it could not (the StatefulSet then keeps its old claim template)."""

    objects: list[dict[str, Any]]
    resized: list[str] = field(default_factory=list)
    recreated: bool = False
    refused: Degradation | None = None


async def expand(cluster: Cluster, exchange: Exchange, objects: list[dict[str, Any]]) -> Expansion:
    """Grow the engine claims to the rendered size and re-create the StatefulSet when its
    claim template is smaller; nothing when it is not, or does not exist yet.

    Raises ``KubernetesError`` for a failure that is not the API server refusing the
    resize (unreachable, a conflict, the delete not finishing in time).
    """
    (rendered,) = (
        o
        for o in objects
        if o["kind"] == "StatefulSet" and o["metadata"]["name"] == _name(exchange)
    )
    wanted = claim_size(rendered)
    live = await cluster.read_stateful_set(exchange.namespace, _name(exchange))
    if live is None or wanted is None:
        return Expansion(objects)
    have = claim_size(live)
    if have is not None and not smaller(have, wanted):
        return Expansion(objects)
    claims = await cluster.read_claims(exchange, f"data-{_name(exchange)}-")
    resized: list[str] = []
    for claim in claims_to_grow(claims, wanted):
        try:
            await cluster.resize_claim(exchange.namespace, claim, wanted)
        except KubernetesError as exc:
            if exc.retryable:
                raise
            message = f"cannot grow the engine volumes to {wanted}: {exc}"
            return Expansion(
                keeping_claim_template(objects, live),
                resized,
                refused=Degradation(EXPANSION_REFUSED, message),
            )
        resized.append(claim)
    await cluster.delete_orphaning(live, within=DELETE_SECONDS)
    return Expansion(objects, resized, recreated=True)


def _name(exchange: Exchange) -> str:
    return f"{exchange.name}-engine"
