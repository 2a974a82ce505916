"""All of the operator's Kubernetes I/O: apply, prune, read children, write status,
grow volume claims.

Nothing else in dome_operator talks to the API server; the render, the status rules and
what an applied object is (``manifests``: kinds, paths, the applied hash, ``contains``) are
pure, and the kopf handlers only glue them to this module. Requests go through the
official ``kubernetes`` client (``dome.kube``: the login, in the cluster through the
service account and in tests through a kubeconfig, is the same one kopf's watches use),
through its public ``ApiClient`` (``param_serialize``, ``call_api``,
``response_deserialize``): one generic path for every kind the render produces,
ServiceMonitors included, which no typed API class covers. The client is synchronous, so
every call runs in a worker thread (``kube.off_loop``) and kopf's loop keeps watching.

Applying is server-side apply (field manager ``dome-operator``, forced, so the operator
wins a conflict over fields it renders). Each applied object carries a hash of itself
in the ``dome.dev/applied-hash`` annotation; an object whose live hash matches is not
sent at all, so a reconcile that changes nothing issues no PATCH. A hand edit keeps the
hash, so the reconcile alone would not revert it: ``repair`` (run by the periodic resync,
``dome_operator.drift``) also compares what it renders with the live object, field by
field (every rendered field must be there with the rendered value; fields others add are
ignored), and applies the objects that are missing or differ; the API server, which
persists no write that changes nothing, then says by the resourceVersion which of them
had really drifted (a value it only normalised, ``0.5`` CPU read back as ``500m``, costs a
PATCH that changes nothing). Objects the Exchange no longer renders (a ServiceMonitor or
PrometheusRule switched off) are found by label and owner and deleted.

A Secret whose values are generated (the peer secret: ``GENERATED_KEYS_ANNOTATION``) is
the exception: it is created once, with fresh random values, by a plain create that a
409 (it exists: made earlier, by another operator replica, or by hand) turns into "keep
it". It is never read, updated or pruned, so a reconcile never rotates it under running
pods, and the operator needs to create Secrets but never to read one.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client

from dome import kube
from dome_operator.exchange import API_VERSION, Exchange
from dome_operator.manifests import (
    APPLIED_HASH_ANNOTATION,
    CREATED_ONCE,
    RESOURCES,
    annotation,
    contains,
    generated_keys,
    object_key,
    object_url,
    owned_by,
    resource_url,
    resource_version,
    with_applied_hash,
    with_generated_values,
)
from dome_operator.metadata import MANAGED_BY, selector_labels
from dome_operator.status import Children, EngineSet, FixGatewayState
from dome_operator.volumes import growing

FIELD_MANAGER = "dome-operator"
#: The operator's Events are named as kopf names them (``settings.posting``).
EVENT_NAME_PREFIX = "dome-"
EXCHANGES = "exchanges"
#: Server-side apply's media type; the client sends the object as JSON, which is YAML.
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
#: (connect, read) seconds for one API call: a reconcile's calls fail and are retried
#: rather than hang on a silent API server.
REQUEST_TIMEOUT = (10.0, 30.0)

Logger = logging.Logger | logging.LoggerAdapter[Any]


class KubernetesError(Exception):
    """An API call failed; ``retryable`` says whether trying again later can help."""

    def __init__(self, message: str, *, status: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class Cluster:
    """The API server, through the official client's ``ApiClient``."""

    api: client.ApiClient
    logger: Logger

    async def available_apis(self) -> frozenset[str]:
        """The group/versions the server serves ("v1" for the core group)."""
        with _translated("discovering API groups"):
            groups = await self._get("/apis")
        versions = {"v1"}
        for group in groups.get("groups", []):
            versions.update(item["groupVersion"] for item in group.get("versions", []))
        return frozenset(versions)

    async def apply(self, objects: Iterable[Mapping[str, Any]]) -> list[str]:
        """Apply each object in order; returns the ``Kind/name`` of those that changed."""
        changed = []
        for obj in objects:
            if generated_keys(obj):
                if await self._create_once(obj):
                    changed.append(object_key(obj))
                continue
            desired = with_applied_hash(obj)
            url = object_url(desired)
            with _translated(f"reading {object_key(obj)}"):
                live = await self._get_or_none(url)
            wanted_hash = desired["metadata"]["annotations"][APPLIED_HASH_ANNOTATION]
            if live is not None and annotation(live, APPLIED_HASH_ANNOTATION) == wanted_hash:
                continue
            with _translated(f"applying {object_key(obj)}"):
                await self._request(
                    "PATCH",
                    url,
                    query={"fieldManager": FIELD_MANAGER, "force": "true"},
                    body=desired,
                    content_type=APPLY_PATCH,
                )
            changed.append(object_key(obj))
        return changed

    async def repair(self, objects: Iterable[Mapping[str, Any]]) -> list[str]:
        """Apply each object that is missing or differs from the render, whatever its
        hash; the ``Kind/name`` of those that had drifted.

        One that was deleted is created again, one whose rendered fields were edited by
        hand gets them back; fields nobody renders (what controllers add) are left alone.
        """
        repaired = []
        for obj in objects:
            if generated_keys(obj):
                if await self._create_once(obj):
                    repaired.append(object_key(obj))
                continue
            desired = with_applied_hash(obj)
            url = object_url(desired)
            with _translated(f"reading {object_key(obj)}"):
                live = await self._get_or_none(url)
            if live is not None and contains(live, desired):
                continue
            with _translated(f"repairing {object_key(obj)}"):
                answer = await self._request(
                    "PATCH",
                    url,
                    query={"fieldManager": FIELD_MANAGER, "force": "true"},
                    body=desired,
                    content_type=APPLY_PATCH,
                )
            if live is None or resource_version(answer) != resource_version(live):
                repaired.append(object_key(obj))
        return repaired

    async def post_event(
        self, involved: Mapping[str, Any], *, reason: str, message: str, warning: bool
    ) -> None:
        """A core Event about ``involved`` (as ``kubectl describe`` shows them).

        kopf's ``kopf.info``/``kopf.warn`` post only from inside a handler; the resync
        runs in the operator's own task, so it posts the same Event itself.
        """
        metadata = involved["metadata"]
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": EVENT_NAME_PREFIX, "namespace": metadata["namespace"]},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata["uid"],
            },
            "type": "Warning" if warning else "Normal",
            "reason": reason,
            "message": message[:1024],
            "source": {"component": FIELD_MANAGER},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        with _translated(f"posting a {reason} event"):
            await self._request(
                "POST", resource_url("v1", "events", metadata["namespace"]), body=event
            )

    async def _create_once(self, obj: Mapping[str, Any]) -> bool:
        """Create ``obj`` with generated values; False when it exists (it is kept as is)."""
        metadata = obj["metadata"]
        url = resource_url(
            obj["apiVersion"], CREATED_ONCE[(obj["apiVersion"], obj["kind"])], metadata["namespace"]
        )
        with _translated(f"creating {object_key(obj)}"):
            try:
                await self._request("POST", url, body=with_generated_values(obj))
            except client.ApiException as exc:
                if exc.status == 409:
                    return False
                raise
        return True

    async def prune(
        self,
        exchange: Exchange,
        keep: Iterable[Mapping[str, Any]],
        apis: frozenset[str],
    ) -> list[str]:
        """Delete this Exchange's children that ``keep`` no longer contains."""
        wanted = {(obj["apiVersion"], obj["kind"], obj["metadata"]["name"]) for obj in keep}
        selector = (
            f"app.kubernetes.io/instance={exchange.name},app.kubernetes.io/managed-by={MANAGED_BY}"
        )
        deleted = []
        for (api_version, kind), plural in RESOURCES.items():
            if api_version not in apis:
                continue
            url = resource_url(api_version, plural, exchange.namespace)
            with _translated(f"listing {plural}"):
                listing = await self._get(url, query={"labelSelector": selector})
            for item in listing.get("items", []):
                name = item["metadata"]["name"]
                if (api_version, kind, name) in wanted or not owned_by(item, exchange.uid):
                    continue
                with _translated(f"deleting {kind}/{name}"):
                    await self._delete(resource_url(api_version, plural, exchange.namespace, name))
                deleted.append(f"{kind}/{name}")
        return deleted

    async def read_children(self, exchange: Exchange) -> Children:
        """The engine StatefulSet's, the discovery Deployment's and (with spec.fix) the
        FIX gateway StatefulSet's state."""
        namespace = exchange.namespace
        gateway = None
        with _translated("reading the workloads"):
            engines = await self._get_or_none(
                resource_url("apps/v1", "statefulsets", namespace, f"{exchange.name}-engine")
            )
            discovery = await self._get_or_none(
                resource_url("apps/v1", "deployments", namespace, f"{exchange.name}-discovery")
            )
            if exchange.fix is not None:
                fix = await self._get_or_none(
                    resource_url("apps/v1", "statefulsets", namespace, f"{exchange.name}-fix")
                )
                gateway = FixGatewayState(
                    exists=fix is not None,
                    ready=fix is not None
                    and int(fix.get("status", {}).get("readyReplicas", 0)) >= 1,
                )
            claims = await self.read_claims(exchange, f"data-{exchange.name}-engine-")
            external = None
            if exchange.external_service is not None:
                service = await self._get_or_none(
                    resource_url("v1", "services", namespace, f"{exchange.name}-external")
                )
                external = None if service is None else _load_balancer_endpoint(service)
        return Children(
            engines=None if engines is None else _engine_set(engines),
            discovery_available=discovery is not None and _available(discovery),
            fix=gateway,
            external_endpoint=external,
            volumes_growing=tuple(growing(claims)),
        )

    async def read_stateful_set(self, namespace: str, name: str) -> dict[str, Any] | None:
        with _translated(f"reading StatefulSet/{name}"):
            return await self._get_or_none(resource_url("apps/v1", "statefulsets", namespace, name))

    async def list_engine_pods(self, exchange: Exchange) -> list[dict[str, Any]]:
        """The engine StatefulSet's pods (``NAME-engine-<n>``), as the API server has them."""
        selector = ",".join(f"{k}={v}" for k, v in selector_labels(exchange, "engine").items())
        prefix = f"{exchange.name}-engine-"
        with _translated("listing the engine pods"):
            listing = await self._get(
                resource_url("v1", "pods", exchange.namespace), query={"labelSelector": selector}
            )
        items: list[dict[str, Any]] = listing.get("items", [])
        return [item for item in items if str(item["metadata"]["name"]).startswith(prefix)]

    async def delete_pod(self, namespace: str, name: str, uid: str) -> bool:
        """Delete pod ``name`` if it is still the one with ``uid``; False when it is gone or
        is already another pod (the StatefulSet recreated it), which must not be deleted."""
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}
        with _translated(f"deleting Pod/{name}"):
            try:
                await self._request(
                    "DELETE", resource_url("v1", "pods", namespace, name), body=options
                )
            except client.ApiException as exc:
                if exc.status in (404, 409):
                    return False
                raise
        return True

    async def read_claims(self, exchange: Exchange, prefix: str) -> list[dict[str, Any]]:
        """The engines' PersistentVolumeClaims: the Exchange's whose name starts ``prefix``
        (the StatefulSet's controller names them CLAIM-STATEFULSET-ORDINAL)."""
        selector = f"app.kubernetes.io/instance={exchange.name},app.kubernetes.io/component=engine"
        with _translated("listing the engine volume claims"):
            listing = await self._get(
                resource_url("v1", "persistentvolumeclaims", exchange.namespace),
                query={"labelSelector": selector},
            )
        items: list[dict[str, Any]] = listing.get("items", [])
        return [item for item in items if str(item["metadata"]["name"]).startswith(prefix)]

    async def resize_claim(self, namespace: str, name: str, size: str) -> None:
        """Ask for ``size`` on a claim; refused (``KubernetesError``, not retryable) where its
        StorageClass does not allow expansion."""
        with _translated(f"resizing PersistentVolumeClaim/{name}"):
            await self._request(
                "PATCH",
                resource_url("v1", "persistentvolumeclaims", namespace, name),
                body={"spec": {"resources": {"requests": {"storage": size}}}},
                content_type=MERGE_PATCH,
            )

    async def delete_orphaning(self, obj: Mapping[str, Any], *, within: float) -> None:
        """Delete ``obj`` (that very one: its uid is a precondition) and leave its dependents
        (pods, revisions) running; returns once it is gone, within ``within`` seconds."""
        metadata = obj["metadata"]
        url = object_url(obj)
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Orphan",
            "preconditions": {"uid": metadata["uid"]},
        }
        with _translated(f"deleting {object_key(obj)} (orphaning its pods)"):
            try:
                await self._request("DELETE", url, body=options)
            except client.ApiException as exc:
                if exc.status not in (404, 409):  # gone, or already a new one (another uid)
                    raise
            # The garbage collector removes the orphan finalizer once it has released the
            # dependents; a poll with a deadline, as there is nothing to watch on but this.
            deadline = asyncio.get_running_loop().time() + within
            while (live := await self._get_or_none(url)) is not None and live["metadata"][
                "uid"
            ] == metadata["uid"]:
                if asyncio.get_running_loop().time() > deadline:
                    raise client.ApiException(
                        status=504, reason=f"still being deleted after {within:.0f} s"
                    )
                await asyncio.sleep(0.2)

    async def read_exchange(self, namespace: str, name: str) -> dict[str, Any] | None:
        with _translated(f"reading Exchange {namespace}/{name}"):
            return await self._get_or_none(_exchange_url(namespace, name))

    async def write_status(
        self, namespace: str, name: str, status: Mapping[str, Any], *, resource_version: str
    ) -> None:
        """Merge ``status`` into the Exchange's status subresource, if the Exchange is
        still at ``resource_version`` (a 409 ``KubernetesError`` otherwise)."""
        with _translated(f"writing the status of Exchange {namespace}/{name}"):
            await self._request(
                "PATCH",
                _exchange_url(namespace, name, subresource="status"),
                body={"metadata": {"resourceVersion": resource_version}, "status": dict(status)},
                content_type=MERGE_PATCH,
            )

    async def _get(self, url: str, *, query: Mapping[str, str] | None = None) -> dict[str, Any]:
        result = await self._request("GET", url, query=query)
        if not isinstance(result, dict):
            raise client.ApiException(status=500, reason=f"GET {url}: not a JSON object")
        return result

    async def _get_or_none(self, url: str) -> dict[str, Any] | None:
        try:
            return await self._get(url)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def _delete(self, url: str) -> None:
        try:
            await self._request("DELETE", url)
        except client.ApiException as exc:
            if exc.status != 404:
                raise  # a 404: someone (the garbage collector) was first

    async def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        """One call, in a worker thread: the decoded JSON answer, or ``ApiException``."""
        return await kube.off_loop(self._request_now, method, path, query, body, content_type)

    def _request_now(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        body: Any,
        content_type: str | None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        serialized = self.api.param_serialize(
            method,
            path,
            query_params=list(query.items()) if query else None,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*serialized, _request_timeout=REQUEST_TIMEOUT)
        response.read()  # type: ignore[no-untyped-call]
        # Raises ApiException (with the status) for anything but 2xx.
        return self.api.response_deserialize(response, {"2XX": "object"}).data


def _exchange_url(namespace: str, name: str, *, subresource: str | None = None) -> str:
    return resource_url(API_VERSION, EXCHANGES, namespace, name, subresource=subresource)


def _engine_set(obj: Mapping[str, Any]) -> EngineSet:
    spec = obj.get("spec", {})
    status = obj.get("status", {})
    return EngineSet(
        desired=int(spec.get("replicas", 1)),
        replicas=int(status.get("replicas", 0)),
        ready=int(status.get("readyReplicas", 0)),
        updated=int(status.get("updatedReplicas", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        generation=int(obj.get("metadata", {}).get("generation", 0)),
    )


def _load_balancer_endpoint(service: Mapping[str, Any]) -> str | None:
    """``address:port`` of a Service's load balancer; None before it has one (or for a
    NodePort Service, whose nodes' addresses the Service does not know)."""
    ingress = service.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    ports = service.get("spec", {}).get("ports") or []
    if not ingress or not ports:
        return None
    address = ingress[0].get("hostname") or ingress[0].get("ip")
    return f"{address}:{ports[0]['port']}" if address else None


def _available(deployment: Mapping[str, Any]) -> bool:
    conditions = deployment.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


@contextmanager
def _translated(doing: str) -> Iterator[None]:
    """The client's errors as ``KubernetesError``, so the handlers need not know the
    client; 4xx (other than conflicts and throttling) will not heal by retrying."""
    try:
        yield
    except client.ApiException as exc:
        status = int(exc.status or 0)
        retryable = status >= 500 or status in (409, 429)
        raise KubernetesError(
            f"{doing}: HTTP {status}: {_api_message(exc)}",
            status=status,
            retryable=retryable,
        ) from exc
    except (urllib3.exceptions.HTTPError, OSError, kube.KubeConfigError) as exc:
        # No answer (refused, reset, timed out) or no login: another try may work.
        raise KubernetesError(f"{doing}: {exc!r}", status=None, retryable=True) from exc


def _api_message(exc: client.ApiException) -> str:
    """The ``message`` of the API server's Status answer, else its reason phrase."""
    try:
        answer = json.loads(exc.body or "")
    except ValueError:
        answer = None
    message = answer.get("message") if isinstance(answer, dict) else None
    if isinstance(message, str):
        return message
    return str(exc.reason or exc)
