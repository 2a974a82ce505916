"""Discovery's placement, as far as the operator needs it: the seam, not yet the call.

DESIGN.md lets the operator talk to discovery for one thing: reading placement and
health for the Exchange's status. Discovery (``dome discovery``) arrives with the
replication work, so ``read_placement`` answers ``None`` today and the status carries an
empty ``placement`` summary: the operator does not invent symbols, epochs or primaries.

Two things wait on this seam:

- the status summary (symbols placed, highest epoch, symbols per primary), which
  ``placement_summary`` already shapes for the CRD;
- rolling an image "followers before primaries". Today the StatefulSet's RollingUpdate
  replaces one engine at a time, highest ordinal first, whatever each engine leads. With
  placement known, the operator can set ``updateStrategy.rollingUpdate.partition`` so that
  engines that lead no symbol go first, and ask discovery to hand a primary's symbols
  off before its pod is replaced. Scaling down has the same need: discovery should move
  symbols off the highest ordinals before the StatefulSet removes them; until then an
  engine that leaves is a failover.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Placement:
    """Discovery's map, reduced to what the status shows."""

    epoch: int
    #: engine id -> symbols it is primary for
    primaries: Mapping[str, int] = field(default_factory=dict)

    @property
    def symbols(self) -> int:
        return sum(self.primaries.values())


async def read_placement(exchange: Mapping[str, Any]) -> Placement | None:
    """Ask the Exchange's discovery for placement; ``None`` until discovery exists.

    The call will be a ``GetPlacement`` on ``NAME-discovery.NS.svc``; it is not made yet
    because no discovery process serves it (see the module docstring).
    """
    del exchange  # used once discovery serves GetPlacement
    return None


def placement_summary(placement: Placement | None) -> dict[str, Any]:
    """The status' ``placement`` object; empty while placement is unknown."""
    if placement is None:
        return {}
    return {
        "symbols": placement.symbols,
        "epoch": placement.epoch,
        "primaries": dict(placement.primaries),
    }
