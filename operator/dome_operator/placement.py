"""Discovery's placement, reduced to the summary an Exchange's status shows: pure.

DESIGN.md lets the operator talk to discovery for one thing: reading placement and
health for the Exchange's status. ``discovery_client.read_placement`` makes that call; this
module turns its answer into ``status.placement``:

- ``symbols``: how many symbols the map holds, ``epoch`` the highest of their epochs;
- ``led``: engine id -> symbols it is primary for, every live engine listed (0 for one
  that leads nothing, the engine a rollout could replace first);
- ``electing``: symbols without a primary while an election is open;
- ``underReplicated``: symbols with a primary whose in-sync set is smaller than the
  replication factor (with acks ``all`` one more lost replica stops them).

When discovery cannot be asked or does not answer, the summary keeps what discovery
said last and ``unavailable`` says why: a status that dropped its placement on every
network blip would flap, and one that kept it silently would lie about its age. Which
of these make the exchange Degraded is decided in ``status``, with the other conditions.

The summary is read whenever the status is refreshed, that is on every reconcile and
every change of the engine StatefulSet or the discovery Deployment, not continuously:
an election that closes while no workload changes shows until the next change.

Placement also decides a scale-down (``scale_down``): the leaving engines' pods are
kept until it lists no replica on them and every symbol is in sync at its factor.
It decides a rollout too (``rollout``): the engine that leads the fewest symbols is
replaced first, and the next only once every symbol is in sync at its factor again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dome.v1 import discovery_pb2 as pb

#: The keys of a summary discovery answered (``unavailable`` comes on top when it did not).
SUMMARY_KEYS = ("symbols", "epoch", "led", "electing", "underReplicated")
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Unavailable:
    """Placement could not be read this time; ``reason`` goes into the status as is, so it
    names no changing detail (a status that changes on every refresh is rewritten each time).
    """

    reason: str


#: What one attempt to read placement gives.
PlacementReading = pb.Placement | Unavailable


def placement_summary(reading: PlacementReading, previous: Mapping[str, Any]) -> dict[str, Any]:
    """The status' ``placement`` object; ``previous`` is the one the status holds now.

    >>> answer = pb.Placement(
    ...     replication_factor=2,
    ...     engines=[pb.EngineInfo(engine_id="e0", alive=True),
    ...              pb.EngineInfo(engine_id="e1", alive=True)],
    ...     symbols=[pb.SymbolPlacement(symbol="A", epoch=3, primary="e0", in_sync=["e0", "e1"]),
    ...              pb.SymbolPlacement(symbol="B", epoch=4, primary="", in_sync=["e0"])])
    >>> summary = placement_summary(answer, {})
    >>> summary
    {'symbols': 2, 'epoch': 4, 'led': {'e0': 1, 'e1': 0}, 'electing': ['B'], 'underReplicated': []}
    >>> placement_summary(Unavailable("no answer"), summary)["unavailable"]
    'no answer'
    """
    if isinstance(reading, Unavailable):
        kept = {key: previous[key] for key in SUMMARY_KEYS if key in previous}
        return {**kept, UNAVAILABLE: reading.reason}
    factor = reading.replication_factor
    led = {engine.engine_id: 0 for engine in reading.engines if engine.alive}
    for symbol in reading.symbols:
        if symbol.primary:
            led[symbol.primary] = led.get(symbol.primary, 0) + 1
    return {
        "symbols": len(reading.symbols),
        "epoch": max((symbol.epoch for symbol in reading.symbols), default=0),
        "led": dict(sorted(led.items())),
        "electing": sorted(symbol.symbol for symbol in reading.symbols if not symbol.primary),
        "underReplicated": sorted(
            symbol.symbol
            for symbol in reading.symbols
            if symbol.primary and len(set(symbol.in_sync)) < factor
        ),
    }
