"""A Kubernetes API emulator that kopf and the operator can run against.

kmock 0.8's ``KubernetesEmulator`` stores objects and serves lists and watches, but a
controller needs more of the API server's contract than it keeps: server-set ``uid``,
``resourceVersion``, ``generation`` and ``creationTimestamp``; JSON patches whose failed
``test`` is a 422 (kopf's optimistic concurrency relies on it); a watch that resumes from
a resourceVersion without losing what happened in between; server-side apply that
creates what does not exist; status kept apart from the main resource; label selectors
on lists and watches; names from ``generateName`` (kopf's Events); the scale
subresource. This subclass adds exactly that, and plays the garbage collector: deleting an owner
deletes its dependents (by owner uid), as Kubernetes does in the background.

It is deliberately simple where a test does not look: server-side apply replaces the
fields of the one manager there is (the operator) instead of tracking field ownership,
and strategic merge patches are treated as JSON merge patches.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import datetime
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock

APPLY = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
_SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp")
_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
_MUTATIONS = (kmock.action.CREATE, kmock.action.UPDATE, kmock.action.DELETE)

#: What the operator, kopf and the tests touch: (group/version/plural, kind, namespaced,
#: subresources).
RESOURCES = [
    ("dome.dev/v1alpha1/exchanges", "Exchange", True, {"status", "scale"}),
    ("v1/configmaps", "ConfigMap", True, set()),
    ("v1/secrets", "Secret", True, set()),
    ("v1/serviceaccounts", "ServiceAccount", True, set()),
    ("v1/services", "Service", True, {"status"}),
    ("v1/events", "Event", True, set()),
    ("v1/pods", "Pod", True, {"status"}),
    ("v1/persistentvolumeclaims", "PersistentVolumeClaim", True, {"status"}),
    ("v1/namespaces", "Namespace", False, {"status"}),
    ("rbac.authorization.k8s.io/v1/roles", "Role", True, set()),
    ("rbac.authorization.k8s.io/v1/rolebindings", "RoleBinding", True, set()),
    ("apps/v1/deployments", "Deployment", True, {"status", "scale"}),
    ("apps/v1/statefulsets", "StatefulSet", True, {"status", "scale"}),
    ("policy/v1/poddisruptionbudgets", "PodDisruptionBudget", True, {"status"}),
    ("networking.k8s.io/v1/networkpolicies", "NetworkPolicy", True, set()),
    (
        "apiextensions.k8s.io/v1/customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        {"status"},
    ),
]
SERVICE_MONITORS = ("monitoring.coreos.com/v1/servicemonitors", "ServiceMonitor", True, set())
PROMETHEUS_RULES = ("monitoring.coreos.com/v1/prometheusrules", "PrometheusRule", True, set())

#: The scale subresource's spec.replicas, per resource (the Exchange CRD's
#: specReplicasPath is .spec.engines).
SCALED_FIELDS = {"exchanges": "engines", "statefulsets": "replicas", "deployments": "replicas"}

Key = tuple[kmock.resource, str | None, str]


@attrs.define(kw_only=True)
class ClusterEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with the API server behaviour a kopf operator depends on."""

    _revision: int = attrs.field(default=0, init=False)
    #: Every change as (resourceVersion, resource, watch event), in order: what watches
    #: resume from.
    _changes: list[tuple[int, kmock.resource, dict[str, Any]]] = attrs.field(
        factory=list, init=False
    )
    _changed: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)

    def declare(self, *resources: tuple[str, str, bool, set[str]]) -> None:
        for path, kind, namespaced, subresources in resources:
            self.resources[path] = kmock.ResourceInfo(
                kind=kind, namespaced=namespaced, verbs=set(_VERBS), subresources=subresources
            )

    @property
    def requests(self) -> list[kmock.Request]:
        """Every request served so far, in arrival order (kmock's own record)."""
        return list(self._requests)

    def live(self, path: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The stored object, or None when it does not exist (any more)."""
        key = (kmock.resource(path), namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return copy.deepcopy(self.objects[key].raw)

    def put(self, path: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as a create through the API would (a test's stand-in for apply)."""
        metadata = obj["metadata"]
        return self._create(
            (kmock.resource(path), metadata.get("namespace"), metadata["name"]), obj
        )

    def named(self, path: str, namespace: str | None = None) -> dict[str, dict[str, Any]]:
        """Live objects of one resource, by name."""
        resource = kmock.resource(path)
        return {
            name: copy.deepcopy(obj.raw)
            for (res, ns, name), obj in self.objects.items()
            if res == resource and not obj.deleted and namespace in (None, ns)
        }

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # kmock gives a PUT no action (it would be a create or an update by situation);
        # the API server's is a replace: what client.replace_namespaced_* sends.
        replace = request.method == kmock.method.PUT and request.name is not None
        if request.resource is None or (request.action not in _MUTATIONS and not replace):
            return await super()._handle(request)
        try:
            async with self._lock:
                body, code = self._replace(request) if replace else self._mutate(request)
        except kmock.KubernetesError as exc:
            return await self._render_error(exc)
        return aiohttp.web.json_response(body, status=code)

    def _mutate(self, request: kmock.Request) -> tuple[dict[str, Any], int]:
        assert request.resource is not None
        data = request.data if request.data is not None else {}
        if request.action == kmock.action.CREATE:
            metadata = data.get("metadata", {})
            name = (
                metadata.get("name") or f"{metadata.get('generateName', '')}{uuid.uuid4().hex[:5]}"
            )
            namespace = request.namespace or data.get("metadata", {}).get("namespace")
            key: Key = (request.resource, namespace, name)
            if self._get(key) is not None:
                raise kmock.KubernetesError(409, "AlreadyExists", f"{name} already exists")
            return self._create(key, data), 201
        assert request.name is not None
        key = (request.resource, request.namespace, request.name)
        live = self._get(key)
        if request.action == kmock.action.DELETE:
            if live is None:
                raise kmock.KubernetesObjectNotFoundError()
            return self._delete(key, live), 200
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if live is None:
            if content_type != APPLY:
                raise kmock.KubernetesObjectNotFoundError()
            return self._create(key, data), 201
        expected = (
            data.get("metadata", {}).get("resourceVersion") if isinstance(data, dict) else None
        )
        if expected and content_type != APPLY and expected != live["metadata"]["resourceVersion"]:
            raise kmock.KubernetesError(409, "Conflict", "the object has been modified")
        if request.subresource == "scale":
            field = SCALED_FIELDS[request.resource.plural or ""]
            data = {"spec": {field: data["spec"]["replicas"]}}
        if content_type == APPLY:
            changed = {**copy.deepcopy(data), "metadata": {**live["metadata"], **data["metadata"]}}
        elif content_type == JSON_PATCH:
            try:
                changed = jsonpatch.apply_patch(live, data)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
                raise kmock.KubernetesError(422, "Invalid", str(exc)) from None
        else:
            changed = _merge(live, data)
        return self._update(key, live, changed, status_only=request.subresource == "status"), 200

    def _replace(self, request: kmock.Request) -> tuple[dict[str, Any], int]:
        """A PUT: the whole object, compare-and-set on the resourceVersion it carries."""
        assert request.resource is not None
        assert request.name is not None
        key = (request.resource, request.namespace, request.name)
        live = self._get(key)
        if live is None:
            raise kmock.KubernetesObjectNotFoundError()
        data = request.data if isinstance(request.data, dict) else {}
        expected = data.get("metadata", {}).get("resourceVersion")
        if expected and expected != live["metadata"]["resourceVersion"]:
            raise kmock.KubernetesError(409, "Conflict", "the object has been modified")
        return self._update(key, live, copy.deepcopy(data), status_only=False), 200

    def _get(self, key: Key) -> dict[str, Any] | None:
        if key not in self.objects or self.objects[key].deleted:
            return None
        return copy.deepcopy(self.objects[key].raw)

    def _create(self, key: Key, data: Mapping[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(dict(data))
        metadata = obj.setdefault("metadata", {})
        metadata.update(
            name=key[2],
            uid=str(uuid.uuid4()),
            generation=1,
            creationTimestamp=_now(),
        )
        if key[1] is not None:
            metadata["namespace"] = key[1]
        self._record(key, obj, "ADDED")
        return obj

    def _update(
        self, key: Key, live: dict[str, Any], changed: dict[str, Any], *, status_only: bool
    ) -> dict[str, Any]:
        if status_only:
            new = {**live, "status": changed.get("status")}
        else:
            new = {key: value for key, value in changed.items() if key != "status"}
            if "status" in live:
                new["status"] = live["status"]
            new["metadata"] = {
                **new.get("metadata", {}),
                **{field: live["metadata"][field] for field in _SERVER_METADATA},
            }
            if _spec_of(new) != _spec_of(live):
                new["metadata"]["generation"] = live["metadata"]["generation"] + 1
        if new == live:
            return live  # a no-op write changes no resourceVersion and wakes no watch
        metadata = new["metadata"]
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
            return self._delete(key, new)
        self._record(key, new, "MODIFIED")
        return new

    def _delete(self, key: Key, live: dict[str, Any]) -> dict[str, Any]:
        if live["metadata"].get("finalizers"):
            if not live["metadata"].get("deletionTimestamp"):
                marked = copy.deepcopy(live)
                marked["metadata"]["deletionTimestamp"] = _now()
                self._record(key, marked, "MODIFIED")
                return marked
            return live
        self._revision += 1
        gone = copy.deepcopy(live)
        gone["metadata"]["resourceVersion"] = str(self._revision)
        self.objects[key].delete()
        self._publish(key[0], {"type": "DELETED", "object": gone})
        self._collect_garbage(live["metadata"]["uid"])
        return gone

    def _collect_garbage(self, owner_uid: str) -> None:
        for key, obj in list(self.objects.items()):
            if obj.deleted:
                continue
            owners = obj.raw.get("metadata", {}).get("ownerReferences", [])
            if any(owner.get("uid") == owner_uid for owner in owners):
                self._delete(key, copy.deepcopy(obj.raw))

    def _record(self, key: Key, obj: dict[str, Any], kind: str) -> None:
        self._revision += 1
        obj["metadata"]["resourceVersion"] = str(self._revision)
        if key in self.objects:
            self.objects[key].create(copy.deepcopy(obj))
        else:
            self.objects[key] = copy.deepcopy(obj)
        self._publish(key[0], {"type": kind, "object": copy.deepcopy(obj)})

    def _publish(self, resource: kmock.resource, event: dict[str, Any]) -> None:
        self._changes.append((self._revision, resource, event))
        self._changed.set()
        self._changed = asyncio.Event()

    async def _serve_list(self, request: kmock.Request) -> dict[str, Any]:
        if request.resource not in self._get_resources():
            raise kmock.KubernetesResourceNotFoundError()
        async with self._lock:
            items = [
                copy.deepcopy(obj.raw)
                for (resource, namespace, _), obj in self.objects.items()
                if not obj.deleted and _matches(request, resource, namespace, obj.raw)
            ]
            return {"metadata": {"resourceVersion": str(self._revision)}, "items": items}

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        yield b""  # send the headers: the stream is open even if nothing happens
        loop = asyncio.get_running_loop()
        timeout = float(request.params.get("timeoutSeconds") or 3600)
        deadline = loop.time() + timeout
        since = request.params.get("resourceVersion")
        if not since or since == "0":
            listing = await self._serve_list(request)
            for item in listing["items"]:
                yield {"type": "ADDED", "object": item}
            since = listing["metadata"]["resourceVersion"]
        index = bisect.bisect_right([rv for rv, _, _ in self._changes], int(since))
        while True:
            changed = self._changed  # taken before draining, so no change slips between
            while index < len(self._changes):
                _, resource, event = self._changes[index]
                index += 1
                metadata = event["object"]["metadata"]
                if _matches(request, resource, metadata.get("namespace"), event["object"]):
                    yield copy.deepcopy(event)
            remaining = deadline - loop.time()
            if remaining <= 0 or _disconnected(request):
                return
            # aiohttp does not cancel a handler whose client left, and the server waits
            # for open handlers when it stops: look at the connection now and then.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.2))


def _disconnected(request: kmock.Request) -> bool:
    raw = request._raw_request
    return raw is None or raw.transport is None or raw.transport.is_closing()


def _matches(
    request: kmock.Request, resource: kmock.resource, namespace: str | None, obj: Mapping[str, Any]
) -> bool:
    if resource != request.resource or request.namespace not in (None, namespace):
        return False
    selector = request.params.get("labelSelector")
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels", {})
    pairs = (term.split("=", 1) for term in selector.split(","))
    return all(labels.get(key) == value for key, value in pairs)


def _merge(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    merged = dict(base) if isinstance(base, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def _spec_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What bumps ``generation``: everything except metadata and status."""
    return {key: value for key, value in obj.items() if key not in ("metadata", "status")}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
