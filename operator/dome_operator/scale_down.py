"""Scale-down driven by the operator: the engine pods that leave go only once empty.

Lowering ``spec.engines`` from N to M writes ``enginesExpected: M`` into discovery's
ConfigMap at once (``render``), and discovery evacuates engines ``engine-M`` .. ``engine-
(N-1)``: they get no new roles, their primaries move by planned election and each of
their followers is replaced on a staying engine before it is dropped. Meanwhile the
operator keeps the engine StatefulSet at N replicas, and lowers it to M only when the
placement it reads from discovery lists no replica (primary or follower, in sync or
catching up) on a leaving engine and every symbol is in sync at its factor on the
staying ones. Until then the reconcile is retried (``RETRY_SECONDS``) and the status
says ``Progressing`` ``EvacuatingEngines`` with what still holds the leaving engines.

What is held comes from the cluster, not the operator's memory: the StatefulSet's own
``spec.replicas`` is the count the pods have, so an operator restarted mid-evacuation
holds the same. Scaling back up before the evacuation finishes renders ``enginesExpected``
at the new count, which cancels it in discovery (and discovery trims any symbol left one
replica over its factor). ``evacuation`` is pure; ``hold_engines`` does the reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dome_operator.discovery_client import read_placement
from dome_operator.exchange import Exchange
from dome_operator.placement import PlacementReading, Unavailable

if TYPE_CHECKING:  # apply imports status, which imports this module's pure half
    from dome_operator.apply import Cluster

#: Seconds between two looks at an evacuation in progress (a reconcile retry).
RETRY_SECONDS = 5
#: The Progressing reason while leaving engines still hold replicas.
EVACUATING = "EvacuatingEngines"


@dataclass(frozen=True)
class Evacuation:
    """How far moving every replica off the leaving engines has got."""

    #: The engine ids that leave, lowest ordinal first.
    leaving: tuple[str, ...]
    #: Leaving engine -> the symbols it still holds a replica of.
    holding: dict[str, tuple[str, ...]]
    #: Symbols electing, or in sync on fewer staying engines than their factor.
    short: tuple[str, ...]
    #: Why placement could not be read ("" when it was).
    unavailable: str = ""

    @property
    def done(self) -> bool:
        return not self.unavailable and not self.short and not any(self.holding.values())

    @property
    def message(self) -> str:
        parts = [f"moving replicas off {', '.join(self.leaving)}"]
        if self.unavailable:
            parts.append(f"placement unknown: {self.unavailable}")
        for engine, symbols in sorted(self.holding.items()):
            if symbols:
                parts.append(f"{engine} still holds {_named(symbols)}")
        if self.short:
            parts.append(f"not yet in sync at their factor: {_named(self.short)}")
        return "; ".join(parts)


def _named(symbols: tuple[str, ...]) -> str:
    shown = ", ".join(symbols[:5])
    return shown if len(symbols) <= 5 else f"{shown} and {len(symbols) - 5} more"


def evacuation(
    reading: PlacementReading, staying: int, present: int, pods: str = "engine"
) -> Evacuation:
    r"""The evacuation of engines ``PODS-staying`` .. ``PODS-(present-1)``.

    ``pods`` is the engine StatefulSet's name: an engine's id is its pod's name
    (``commands.engine_args``), ``demo-engine-2`` for the third pod of Exchange ``demo``.

    >>> from dome.v1 import discovery_pb2 as pb
    >>> answer = pb.Placement(replication_factor=2, symbols=[
    ...     pb.SymbolPlacement(symbol="A", primary="engine-0", followers=["engine-2"],
    ...                        in_sync=["engine-0", "engine-2"]),
    ...     pb.SymbolPlacement(symbol="B", primary="engine-1", followers=["engine-0"],
    ...                        in_sync=["engine-0", "engine-1"])])
    >>> left = evacuation(answer, 2, 3)
    >>> left.done
    False
    >>> print(left.message.replace("; ", "\n"))
    moving replicas off engine-2
    engine-2 still holds A
    not yet in sync at their factor: A
    >>> evacuation(answer, 3, 3).done
    True
    """
    leaving = tuple(f"{pods}-{n}" for n in range(staying, present))
    if isinstance(reading, Unavailable):
        return Evacuation(leaving, {}, (), reading.reason)
    factor = min(reading.replication_factor, staying)
    gone = set(leaving)
    holding: dict[str, list[str]] = {engine: [] for engine in leaving}
    short: list[str] = []
    for symbol in sorted(reading.symbols, key=lambda s: s.symbol):
        members = {symbol.primary, *symbol.followers} - {""}
        for engine in sorted(members & gone):
            holding[engine].append(symbol.symbol)
        in_sync = set(symbol.in_sync) - gone
        if not symbol.primary or symbol.primary in gone or len(in_sync) < factor:
            short.append(symbol.symbol)
    return Evacuation(leaving, {e: tuple(s) for e, s in holding.items()}, tuple(short))


async def hold_engines(
    cluster: Cluster, exchange: Exchange, objects: list[dict[str, Any]]
) -> Evacuation | None:
    """Keep the rendered engine StatefulSet at the live replica count while a scale-down
    evacuates (``objects`` is edited in place); the evacuation, or None when nothing is
    held (no scale-down, or it is done).

    Raises ``KubernetesError`` when the StatefulSet cannot be read.
    """
    name = f"{exchange.name}-engine"
    live = await cluster.read_stateful_set(exchange.namespace, name)
    present = int((live or {}).get("spec", {}).get("replicas") or 0)
    if present <= exchange.engines:
        return None
    progress = evacuation(await read_placement(exchange), exchange.engines, present, name)
    if progress.done:
        return None
    for obj in objects:
        if obj["kind"] == "StatefulSet" and obj["metadata"]["name"] == name:
            obj["spec"]["replicas"] = present
    return progress
