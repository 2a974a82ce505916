"""The kopf handlers: glue from kopf's causes to render, apply and status.

Every Exchange change (create, an operator restart, a spec edit, ``kubectl scale``) runs
one reconcile: validate and render (pure), grow the engine volumes if spec.storage.size
grew (``expansion``), apply and prune (``apply``), then report. An
Exchange that cannot be rendered is a ``PermanentError`` with a Degraded condition:
retrying the same spec cannot help. A failed API call is a ``TemporaryError`` when
retrying may help (5xx, timeouts, conflicts) and permanent otherwise (the server refused
the object as invalid).

Status follows the children: events on the engine StatefulSet and the discovery
Deployment refresh the owning Exchange's status (``reporting``), written only when it
changes. The placement summary also follows discovery, whose elections and moves change
no Kubernetes object: so every Exchange this operator has reconciled is refreshed every
``STATUS_REFRESH_S`` too, by one task of the operator's (a real API server showed a
status saying ``electing`` for minutes after discovery had elected). The same task
repairs drift first (``drift``): a child deleted or edited by hand is restored within
one refresh, with a ``DriftRepaired`` warning event naming it.

There is no deletion handler and so no finalizer: every child carries an owner reference
to its Exchange, Kubernetes' garbage collector deletes them, and the operator holds no
state outside the cluster that it would have to clean up (engine volumes are kept on
purpose). A finalizer would only make deleting an Exchange hang while the operator is
down. For the same reason there is no kopf timer or daemon, which would add one: the
refresh is a plain task started with the operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from typing import Any

import kopf
from kubernetes import client

from dome import kube
from dome_operator import drift
from dome_operator.apply import Cluster, KubernetesError, Logger
from dome_operator.exchange import GROUP, VERSION, InvalidExchange, read_exchange
from dome_operator.expansion import expand
from dome_operator.metadata import MANAGED_BY
from dome_operator.metrics import METRICS
from dome_operator.render import render
from dome_operator.reporting import Reconciled, publish_status
from dome_operator.rollout import roll_engines
from dome_operator.scale_down import RETRY_SECONDS, hold_engines
from dome_operator.status import Degradation, current_degradation

PLURAL = "exchanges"
#: Seconds before retrying a reconcile whose API calls failed.
RETRY_DELAY = 10
#: Seconds before asking again to grow volumes the API server refused to grow.
EXPANSION_RETRY_DELAY = 30
#: Set by the chart from the downward API: the namespace the operator's pod runs in, whose
#: pods each Exchange's NetworkPolicy lets read placement from discovery.
OPERATOR_NAMESPACE_ENV = "POD_NAMESPACE"
_CHILD_LABELS = {"app.kubernetes.io/managed-by": MANAGED_BY}
#: Seconds between refreshes of every reconciled Exchange's status from discovery.
STATUS_REFRESH_S = 10.0
#: memo key: the (namespace, name) of every Exchange this operator has reconciled.
_WATCHED = "exchanges"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Operator-wide settings, before any Exchange is handled."""
    settings.posting.reporting_component = "dome-operator"
    settings.posting.event_name_prefix = "dome-"
    # Handler progress and the last handled spec go in annotations of the Exchange; its
    # status is the CRD's, and the schema would prune kopf's keys from it.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="dome.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="dome.dev", key="last-handled-configuration"
    )
    # No watching of namespaces and CRDs: the chart names the namespaces to serve (or
    # serves all) and grants no namespace listing, and Helm installs the CRD before the
    # operator starts; kopf still discovers the resources once at startup.
    settings.scanning.disabled = True
    # Watches end server-side every few minutes and resume from their resourceVersion,
    # so a silently dropped connection costs minutes, not the operator's usefulness.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10
    # The operator's own calls (apply, status): the official client, logged in as kopf is.
    memo["api"] = kube.api_client(kube.load_configuration())
    memo[_WATCHED] = set()


@kopf.on.startup()
async def start_refreshing(memo: kopf.Memo, logger: Logger, **_: Any) -> None:
    """Start the task that keeps every reconciled Exchange's status current."""
    memo["refresher"] = asyncio.create_task(_refresh_statuses(memo, logger))


async def _refresh_statuses(memo: kopf.Memo, logger: Logger) -> None:
    watched: set[tuple[str, str]] = memo.setdefault(_WATCHED, set())
    while True:
        await asyncio.sleep(STATUS_REFRESH_S)
        cluster = Cluster(_api(memo), logger)
        for namespace, name in sorted(watched):
            try:
                exchange = await cluster.read_exchange(namespace, name)
                if exchange is None:
                    watched.discard((namespace, name))  # deleted: nothing to follow
                    _ROLLOUT_SEEN.pop((namespace, name), None)
                    continue
                await _repair_drift(cluster, exchange)
                await publish_status(cluster, namespace, name)
                await _roll_engines(cluster, exchange)
            except KubernetesError as exc:
                logger.warning(
                    f"could not refresh the status of Exchange {namespace}/{name}: {exc}"
                )
            except Exception:
                # This one task refreshes and repairs every Exchange: one that fails in a
                # way nobody foresaw must not silently end it for all of them.
                logger.exception(f"refreshing Exchange {namespace}/{name} failed")


async def _repair_drift(cluster: Cluster, exchange: dict[str, Any]) -> None:
    """Restore the children of a settled Exchange that drifted (``drift``); a failure is
    reported as Degraded until a later resync succeeds."""
    if exchange.get("metadata", {}).get("deletionTimestamp") or not drift.settled(exchange):
        return
    metadata = exchange["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    generation = int(metadata["generation"])
    try:
        repaired = await drift.repair(
            cluster, exchange, os.environ.get(OPERATOR_NAMESPACE_ENV) or None
        )
    except KubernetesError as exc:
        failure = Degradation(drift.REPAIR_FAILED, str(exc))
        await publish_status(cluster, namespace, name, Reconciled(generation, failure))
        return
    if repaired:
        METRICS.handled_objects(applied=len(repaired), unchanged=0, pruned=0)
        message = f"restored {', '.join(repaired)}"
        cluster.logger.warning(f"Exchange {namespace}/{name}: {message}")
        await cluster.post_event(exchange, reason="DriftRepaired", message=message, warning=True)
    degraded = current_degradation(exchange)
    if degraded is not None and degraded.reason == drift.REPAIR_FAILED:
        await publish_status(cluster, namespace, name, Reconciled(generation, None))


#: The last rollout state logged per Exchange (namespace, name).
_ROLLOUT_SEEN: dict[tuple[str, str], str] = {}


async def _roll_engines(cluster: Cluster, exchange: dict[str, Any]) -> None:
    """One step of rolling a new engine template onto a settled Exchange's pods, one
    engine at a time (``rollout``): run by every status refresh, so a rollout takes a
    step at most every ``STATUS_REFRESH_S``, and an operator restarted midway resumes.

    Not while a scale-down holds the StatefulSet (the Exchange is not settled then). A
    failure is logged; the next refresh looks again.
    """
    if exchange.get("metadata", {}).get("deletionTimestamp") or not drift.settled(exchange):
        return
    metadata = exchange["metadata"]
    try:
        step = await roll_engines(cluster, read_exchange(exchange))
    except (KubernetesError, InvalidExchange) as exc:
        cluster.logger.warning(f"rollout of {metadata['namespace']}/{metadata['name']}: {exc}")
        return
    key = (metadata["namespace"], metadata["name"])
    # Every deletion is logged; a wait is logged once per state, not once per refresh.
    if step.pod is not None or _ROLLOUT_SEEN.get(key) != step.reason:
        cluster.logger.info(f"Exchange {key[0]}/{key[1]}: rollout: {step.reason}")
    _ROLLOUT_SEEN[key] = step.reason
    if step.pod is not None:
        METRICS.engine_pod_rolled()
        await cluster.post_event(
            exchange, reason="EngineRolled", message=step.reason, warning=False
        )


@kopf.on.cleanup()
async def close_client(memo: kopf.Memo, **_: Any) -> None:
    refresher = memo.get("refresher")
    if isinstance(refresher, asyncio.Task):
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher
    api = memo.get("api")
    if isinstance(api, client.ApiClient):
        await kube.off_loop(api.close)


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    """The pod's service account, else the kubeconfig (a developer's machine, the tests):
    ``dome.kube``'s configuration, the one the operator's own calls use.

    Explicit, because kopf picks its fallback logins when it is imported, from whichever
    client libraries happen to be installed and whether KUBECONFIG is set at that moment.
    kopf calls it again when the API server answers 401, which re-reads a rotated token.
    """
    return kube.kopf_connection(kube.load_configuration())


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def reconcile(
    body: kopf.Body,
    name: str,
    namespace: str | None,
    uid: str,
    old: Any,
    new: Any,
    memo: kopf.Memo,
    logger: Logger,
    **_: Any,
) -> None:
    """Make the cluster match the Exchange, then report what it looks like."""
    with METRICS.reconciling():
        try:
            outcome = await _reconcile(body, name, namespace, uid, old, new, memo, logger)
        except kopf.PermanentError:
            METRICS.reconciled("failed")
            raise
        except Exception:
            METRICS.reconciled("retry")  # kopf retries TemporaryError and the unexpected
            raise
        METRICS.reconciled(outcome)


async def _reconcile(
    body: kopf.Body,
    name: str,
    namespace: str | None,
    uid: str,
    old: Any,
    new: Any,
    memo: kopf.Memo,
    logger: Logger,
) -> str:
    """``reconcile``'s work; returns its outcome (``metrics.OUTCOMES``) or raises."""
    cluster = Cluster(_api(memo), logger)
    if namespace is None:
        raise kopf.PermanentError("an Exchange is namespaced")  # the CRD makes it so
    # kopf may hand over a body that is already outdated: the Exchange can have been
    # deleted since (and its children collected), so recreating them would fight the
    # deletion. Work from what the API server holds now.
    try:
        exchange = await cluster.read_exchange(namespace, name)
    except KubernetesError as exc:
        raise kopf.TemporaryError(str(exc), delay=RETRY_DELAY) from exc
    metadata = (exchange or {}).get("metadata", {})
    if exchange is None or metadata.get("uid") != uid or metadata.get("deletionTimestamp"):
        logger.info("the Exchange is gone or being deleted: nothing to apply")
        METRICS.exchange_ready(namespace, name, None)
        return "gone"
    generation = int(metadata.get("generation") or 0)
    try:
        spec = read_exchange(exchange)
        apis = await cluster.available_apis()
        objects = render(
            exchange,
            available_apis=apis,
            operator_namespace=os.environ.get(OPERATOR_NAMESPACE_ENV) or None,
        )
        expansion = await expand(cluster, spec, objects)
        # A scale-down keeps the leaving pods until discovery has moved their replicas off.
        held = await hold_engines(cluster, spec, expansion.objects)
        changed = await cluster.apply(expansion.objects)
        pruned = await cluster.prune(spec, expansion.objects, apis)
    except InvalidExchange as exc:
        degraded = Degradation("InvalidSpec", str(exc))
        await _report_failure(cluster, body, Reconciled(generation, degraded))
        raise kopf.PermanentError(f"the Exchange cannot be rendered: {exc}") from exc
    except KubernetesError as exc:
        degraded = Degradation("ApplyFailed" if exc.retryable else "ApplyRejected", str(exc))
        await _report_failure(cluster, body, Reconciled(generation, degraded))
        if exc.retryable:
            raise kopf.TemporaryError(str(exc), delay=RETRY_DELAY) from exc
        raise kopf.PermanentError(str(exc)) from exc
    METRICS.handled_objects(
        applied=len(changed), unchanged=len(objects) - len(changed), pruned=len(pruned)
    )
    _announce_spec_changes(body, old, new)
    if expansion.resized:
        kopf.info(
            body,
            reason="VolumesExpanded",
            message=f"resized {', '.join(expansion.resized)}; StatefulSet re-created, pods kept",
        )
    if expansion.refused is not None:
        # The rest applied; the claims keep their size until the StorageClass allows it,
        # so try again later rather than give up (an admin may enable expansion).
        await _report_failure(cluster, body, Reconciled(generation, expansion.refused))
        raise kopf.TemporaryError(expansion.refused.message, delay=EXPANSION_RETRY_DELAY)
    if changed:
        kopf.info(body, reason="Applied", message=f"applied {', '.join(changed)}")
    if pruned:
        kopf.info(body, reason="Pruned", message=f"deleted {', '.join(pruned)}")
    logger.info(f"reconciled: {len(changed)} applied, {len(pruned)} pruned, {len(objects)} kept")
    # While a scale-down holds pods the spec is not yet applied: the status keeps its
    # observedGeneration (so drift repair, which only touches a settled Exchange, leaves
    # the held replicas alone) and says EvacuatingEngines; the retry looks again.
    reconciled = None if held is not None else Reconciled(generation, None)
    try:
        await publish_status(cluster, namespace, name, reconciled)
    except KubernetesError as exc:
        raise kopf.TemporaryError(str(exc), delay=RETRY_DELAY) from exc
    memo.setdefault(_WATCHED, set()).add((namespace, name))
    if held is not None:
        raise kopf.TemporaryError(held.message, delay=RETRY_SECONDS)
    return "success"


@kopf.on.event("apps", "v1", "statefulsets", labels=_CHILD_LABELS)
@kopf.on.event("apps", "v1", "deployments", labels=_CHILD_LABELS)
async def child_changed(
    body: kopf.Body, namespace: str | None, memo: kopf.Memo, logger: Logger, **_: Any
) -> None:
    """A workload changed: refresh its Exchange's status.

    A failure is logged and dropped: the next change of the workload refreshes again,
    and an event handler that raised would not be retried by kopf anyway.
    """
    owner = _owner_exchange(body)
    if owner is None or namespace is None:
        return
    try:
        await publish_status(Cluster(_api(memo), logger), namespace, owner)
    except KubernetesError as exc:
        logger.warning(f"could not refresh the status of Exchange {namespace}/{owner}: {exc}")


async def _report_failure(cluster: Cluster, body: kopf.Body, reconciled: Reconciled) -> None:
    """A Warning event and a Degraded status for a reconcile that failed."""
    assert reconciled.degraded is not None
    kopf.warn(body, reason=reconciled.degraded.reason, message=reconciled.degraded.message)
    try:
        await publish_status(
            cluster, body.metadata.namespace or "", body.metadata.name or "", reconciled
        )
    except KubernetesError as exc:
        cluster.logger.warning(f"could not report the failure in the status: {exc}")


def _announce_spec_changes(body: kopf.Body, old: Any, new: Any) -> None:
    """Events for the spec edits people look for in ``kubectl describe``."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return
    if old.get("engines") != new.get("engines"):
        kopf.info(
            body,
            reason="Scaled",
            message=f"engines {old.get('engines')} -> {new.get('engines')}",
        )
    before = _symbols(old)
    after = _symbols(new)
    if before != after:
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        edited = sorted(s for s in set(before) & set(after) if before[s] != after[s])
        kopf.info(
            body,
            reason="InstrumentsChanged",
            message=f"added {added}, removed {removed}, changed {edited}; "
            "engines restart one at a time to load them",
        )
    if old.get("image") != new.get("image"):
        kopf.info(
            body,
            reason="RollingOut",
            message=f"image {old.get('image')} -> {new.get('image')}; "
            "engines are replaced one at a time",
        )


def _symbols(spec: Mapping[str, Any]) -> dict[str, Any]:
    instruments = spec.get("instruments") or []
    return {str(item.get("symbol")): item for item in instruments if isinstance(item, Mapping)}


def _owner_exchange(body: Mapping[str, Any]) -> str | None:
    for reference in body.get("metadata", {}).get("ownerReferences", []):
        if reference.get("kind") == "Exchange" and reference.get("apiVersion", "").startswith(
            f"{GROUP}/"
        ):
            name = reference.get("name")
            return name if isinstance(name, str) else None
    return None


def _api(memo: kopf.Memo) -> client.ApiClient:
    api = memo.get("api")
    if not isinstance(api, client.ApiClient):
        raise kopf.PermanentError("the startup handler did not run")  # a programming error
    return api
