"""Rolling a new engine pod template through the exchange, one engine at a time.

The engine StatefulSet uses ``updateStrategy: OnDelete``: its controller never replaces
a running pod by itself, the operator decides which pod goes when, and the controller
then recreates it from the new template on the same claim. What the operator waits for
before each deletion is what Strimzi and CloudNativePG wait for before restarting a
broker or an instance: no replica set left short.

- Nothing while a scale-down evacuates (``scale_down``), or while the StatefulSet's
  controller has not yet seen the new template (its ``observedGeneration``).
- Nothing while any engine pod is missing, terminating or not Ready: the previous
  replacement is still coming back. One exception: when the only engine pod down runs an
  old template, it goes at once. It serves nothing, so replacing it takes nothing more
  down. This is how a template whose pods never became Ready is recovered from: correct
  the spec, and the stuck pod is replaced first, with no ``kubectl delete pod``. (The
  StatefulSet controller's RollingUpdate waits forever there.)
- Nothing while discovery's placement cannot be read, lists an engine pod as not alive,
  has an election open, or has a symbol in sync on fewer engines than its factor (at
  most the engine count): the replacement must have caught up before the next goes.
- Nothing at all when no pod runs an old template: creating pods (a new exchange, a
  scale-up) is the StatefulSet controller's work.
- Then one outdated pod: the one that leads the fewest symbols (followers before
  primaries), the highest ordinal on ties. An engine stopped with SIGTERM hands its
  primaries to in-sync followers by planned election before it stops serving
  (``workloads.ENGINE_TERMINATION_GRACE_SECONDS``), so even a primary's replacement
  costs writes no more than a planned election.

A TLS exchange's placement cannot be read by the operator (``discovery_client``): its
rollout waits for readiness alone, which the engines' readiness probe ties to being
caught up, and goes highest ordinal first, as the StatefulSet controller would.

A hand edit of the engine pod template (``kubectl edit``) is not rolled: drift repair
restores the template earlier in the same refresh, and the rollout then waits for the
StatefulSet controller to observe the restored generation. An edit landing in the instant
between those two reads could roll one pod onto it; the next refresh restores the
template and rolls that pod back.

``next_step`` is pure; ``roll_engines`` reads the cluster and deletes at most one pod per
look (with its uid as a precondition); the operator looks on every status refresh
(``handlers``), so a rollout takes a step at most every refresh period.
What is decided comes from the cluster alone, so an operator restarted mid-rollout
carries on where the pods are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dome_operator.discovery_client import TLS_UNSUPPORTED, read_placement
from dome_operator.exchange import Exchange
from dome_operator.placement import PlacementReading, Unavailable

if TYPE_CHECKING:  # apply imports status, which imports scale_down; keep one direction
    from dome_operator.apply import Cluster

#: The label the StatefulSet controller puts on each pod: the revision it was made from.
REVISION_LABEL = "controller-revision-hash"


@dataclass(frozen=True)
class EnginePod:
    """What a rollout needs of one engine pod."""

    name: str
    uid: str
    ordinal: int
    revision: str
    ready: bool
    terminating: bool


@dataclass(frozen=True)
class RolloutStep:
    """What to do now: delete ``pod`` (with ``uid``), wait (``pod`` is None), or nothing."""

    #: True once every pod runs the StatefulSet's update revision.
    done: bool
    #: Why: for the log, the Event and the retry's message.
    reason: str
    pod: str | None = None
    uid: str | None = None


def engine_pod(obj: Mapping[str, Any]) -> EnginePod:
    """An ``EnginePod`` from a pod object of the engine StatefulSet."""
    metadata = obj.get("metadata", {})
    conditions = obj.get("status", {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    name = str(metadata.get("name", ""))
    suffix = name.rsplit("-", 1)[-1]
    return EnginePod(
        name=name,
        uid=str(metadata.get("uid", "")),
        ordinal=int(suffix) if suffix.isdigit() else -1,
        revision=str((metadata.get("labels") or {}).get(REVISION_LABEL, "")),
        ready=ready,
        terminating=bool(metadata.get("deletionTimestamp")),
    )


def next_step(
    stateful_set: Mapping[str, Any],
    pods: Sequence[EnginePod],
    reading: PlacementReading,
) -> RolloutStep:
    """The next step of rolling ``stateful_set``'s update revision onto its ``pods``.

    Not asked while a scale-down holds the StatefulSet (``roll_engines``' caller).

    >>> from dome.v1 import discovery_pb2 as pb
    >>> sts = {"metadata": {"generation": 2}, "spec": {"replicas": 3},
    ...        "status": {"observedGeneration": 2, "updateRevision": "new"}}
    >>> pods = [EnginePod(f"x-engine-{n}", f"u{n}", n, "old", True, False) for n in range(3)]
    >>> alive = [pb.EngineInfo(engine_id=p.name, alive=True) for p in pods]
    >>> placed = pb.Placement(replication_factor=3, engines=alive, symbols=[
    ...     pb.SymbolPlacement(symbol="A", primary="x-engine-2",
    ...                        in_sync=["x-engine-0", "x-engine-1", "x-engine-2"])])
    >>> step = next_step(sts, pods, placed)
    >>> step.pod, step.reason
    ('x-engine-1', 'replacing x-engine-1 (leads 0 symbols): 0 of 3 engines updated')
    >>> next_step(sts, [*pods[:2], EnginePod("x-engine-2", "u9", 2, "new", False, False)],
    ...           placed).reason
    'waiting for x-engine-2 to become Ready'
    >>> next_step(sts, [EnginePod(p.name, p.uid, p.ordinal, "new", True, False)
    ...                 for p in pods], placed).done
    True
    """
    status = stateful_set.get("status", {})
    update = str(status.get("updateRevision", ""))
    generation = int(stateful_set.get("metadata", {}).get("generation", 0))
    replicas = int(stateful_set.get("spec", {}).get("replicas", 0))
    outdated = [pod for pod in pods if pod.revision != update]
    if int(status.get("observedGeneration", 0)) < generation or not update:
        return RolloutStep(False, "waiting for the StatefulSet controller to see the template")
    if not outdated:
        # Creating pods, new ones included (a scale-up), is the controller's work; a
        # rollout only ever deletes a pod that runs an old template.
        return RolloutStep(True, "no engine pod runs an old template")
    for pod in sorted(pods, key=lambda p: p.ordinal):
        if pod.terminating:
            return RolloutStep(False, f"waiting for {pod.name} to stop")
    present = {pod.ordinal for pod in pods}
    for ordinal in range(replicas):
        if ordinal not in present:
            return RolloutStep(False, f"waiting for engine pod {ordinal} to be created")
    updated = f"{len(pods) - len(outdated)} of {replicas} engines updated"
    down = sorted((pod for pod in pods if not pod.ready), key=lambda p: p.ordinal)
    if len(down) == 1 and down[0].revision != update:
        # The one engine down runs an old template (a template that never became Ready,
        # since corrected): it serves nothing, so replacing it now takes nothing more down.
        pod = down[0]
        return RolloutStep(False, f"replacing {pod.name} (not Ready): {updated}", pod.name, pod.uid)
    if down:
        return RolloutStep(False, f"waiting for {down[0].name} to become Ready")
    if isinstance(reading, Unavailable):
        if reading.reason != TLS_UNSUPPORTED:
            return RolloutStep(False, f"waiting for placement: {reading.reason}")
        # A TLS exchange: readiness is all the operator can see (module docstring).
        pod = max(outdated, key=lambda p: p.ordinal)
        reason = f"replacing {pod.name} (by readiness): {updated}"
        return RolloutStep(False, reason, pod.name, pod.uid)
    alive = {engine.engine_id for engine in reading.engines if engine.alive}
    for pod in sorted(pods, key=lambda p: p.ordinal):
        if pod.name not in alive:
            return RolloutStep(False, f"waiting for discovery to list {pod.name} alive")
    factor = min(reading.replication_factor, replicas)
    led: dict[str, int] = {}
    for symbol in sorted(reading.symbols, key=lambda s: s.symbol):
        if not symbol.primary:
            return RolloutStep(False, f"waiting for {symbol.symbol} to elect a primary")
        if len(set(symbol.in_sync)) < factor:
            return RolloutStep(False, f"waiting for {symbol.symbol} to be in sync at {factor}")
        led[symbol.primary] = led.get(symbol.primary, 0) + 1
    pod = min(outdated, key=lambda p: (led.get(p.name, 0), -p.ordinal))
    leads = led.get(pod.name, 0)
    symbols = "symbol" if leads == 1 else "symbols"
    return RolloutStep(
        False, f"replacing {pod.name} (leads {leads} {symbols}): {updated}", pod.name, pod.uid
    )


async def roll_engines(cluster: Cluster, exchange: Exchange) -> RolloutStep:
    """Look at the engines' rollout and take its next step: delete at most one pod.

    Returns the step; one whose ``pod`` is set was deleted (or had already been replaced:
    the uid precondition keeps a recreated pod alive, and the next look sees it). Raises
    ``KubernetesError`` when the StatefulSet or the pods cannot be read or deleted.
    """
    name = f"{exchange.name}-engine"
    stateful_set = await cluster.read_stateful_set(exchange.namespace, name)
    if stateful_set is None:
        return RolloutStep(False, f"waiting for StatefulSet {name}")
    pods = [engine_pod(obj) for obj in await cluster.list_engine_pods(exchange)]
    update = str(stateful_set.get("status", {}).get("updateRevision", ""))
    if update and all(pod.revision == update for pod in pods):
        reading: PlacementReading = Unavailable("not read: nothing to roll")
    else:
        reading = await read_placement(exchange)
    step = next_step(stateful_set, pods, reading)
    chosen = step.pod is not None and step.uid is not None
    if chosen and not await cluster.delete_pod(exchange.namespace, str(step.pod), str(step.uid)):
        return RolloutStep(False, f"{step.pod} was already replaced")
    return step
