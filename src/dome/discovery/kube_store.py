"""The Kubernetes store: one ``coordination.k8s.io/v1`` Lease per symbol.

The Lease is named ``<prefix>.<symbol in lower case, other characters as '-'>``. The
dot keeps names of different exchanges apart: the prefix is the Exchange's name, a DNS
label without dots, so ``demo`` + ``X-Y`` and ``demo-x`` + ``Y`` give ``demo.x-y`` and
``demo-x.y``; the former ``<prefix>-<symbol>`` gave both ``demo-x-y``. A Lease under the
former name whose record is this symbol's is carried over on the first load (copied to
the new name, left in place), so an upgraded discovery keeps its epochs. Its
``spec.holderIdentity`` is the primary (readable with ``kubectl get leases``) and the
whole record sits in the ``dome.dev/placement`` annotation. A compare-and-set is a
replace carrying the ``metadata.resourceVersion`` that was read (or a create for a new
Lease): the API server answers 409 when anyone wrote in between, which is what keeps
two discovery pods (a rolling update) from both moving a symbol to one epoch.

Calls go through the official client's ``CoordinationV1Api`` (``dome.kube``: one login,
the token re-read on every request, each call in a worker thread so discovery's event
loop keeps serving while the API server answers).

Discovery needs ``get``, ``create`` and ``update`` on ``leases`` in its namespace.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client

from dome import kube
from dome.discovery.records import SymbolRecord, Versioned
from dome.discovery.store import StoreConflict, StoreError

#: What owns the Leases when discovery is told an owner (``--lease-owner-uid``).
OWNER_API_VERSION = "dome.dev/v1alpha1"
OWNER_KIND = "Exchange"
#: The annotation holding the record as JSON.
ANNOTATION = "dome.dev/placement"
#: Where a pod finds its service account, and the variable naming another directory
#: (``dome.kube``, shared with the operator).
SERVICE_ACCOUNT = kube.SERVICE_ACCOUNT
SERVICE_ACCOUNT_ENV = kube.SERVICE_ACCOUNT_ENV

T = TypeVar("T")


def lease_name(prefix: str, symbol: str) -> str:
    """The Lease of ``symbol``: a valid object name, unique across prefixes without dots.

    >>> lease_name("demo", "BTC-USD"), lease_name("demo", "eth/usd_perp")
    ('demo.btc-usd', 'demo.eth-usd-perp')
    >>> lease_name("demo", "X-Y") != lease_name("demo-x", "Y")
    True
    """
    return f"{prefix}.{_cleaned(symbol)}"[:253].rstrip("-")


def legacy_lease_name(prefix: str, symbol: str) -> str:
    """The name discovery gave the Lease before ``lease_name`` (read to carry it over).

    >>> legacy_lease_name("demo", "BTC-USD")
    'demo-btc-usd'
    """
    return f"{prefix}-{_cleaned(symbol)}"[:253].rstrip("-")


def _cleaned(symbol: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", symbol.lower()).strip("-")


class KubernetesStore:
    """A ``PlacementStore`` in Leases, spoken to through the official Kubernetes client."""

    def __init__(
        self,
        namespace: str,
        prefix: str,
        api_url: str,
        *,
        token_file: Path | None = None,
        ca_file: Path | None = None,
        timeout: float = 5.0,
        owner_uid: str | None = None,
    ) -> None:
        self.namespace = namespace
        self.prefix = prefix
        #: The Exchange (named ``prefix``) that owns the Leases, so the garbage collector
        #: deletes them with it; no blockOwnerDeletion, which would need more RBAC.
        self._owners = (
            [
                client.V1OwnerReference(
                    api_version=OWNER_API_VERSION, kind=OWNER_KIND, name=prefix, uid=owner_uid
                )
            ]
            if owner_uid
            else None
        )
        self.api_url = api_url.rstrip("/")
        self._timeout = timeout
        configuration = kube.token_configuration(
            self.api_url, token_file=token_file, ca_file=ca_file
        )
        self._client: client.ApiClient | None = kube.api_client(configuration)
        self._leases = client.CoordinationV1Api(self._client)

    @classmethod
    def in_cluster(
        cls, namespace: str, prefix: str, *, owner_uid: str | None = None
    ) -> KubernetesStore:
        """Use the pod's service account, as every in-cluster client does.

        The API server is ``KUBERNETES_SERVICE_HOST``:``KUBERNETES_SERVICE_PORT`` (set in
        every pod), the token and CA are read from SERVICE_ACCOUNT, or from the directory
        ``DOME_SERVICE_ACCOUNT_DIR`` names.
        """
        try:
            configuration = kube.in_cluster_configuration()
        except kube.KubeConfigError as exc:
            raise StoreError(str(exc)) from None
        account = kube.service_account_dir()
        ca = account / "ca.crt"
        return cls(
            namespace,
            prefix,
            configuration.host,
            token_file=account / "token",
            ca_file=ca if ca.is_file() else None,
            owner_uid=owner_uid,
        )

    def check_names(self, symbols: Sequence[str]) -> None:
        """Refuse symbols whose Lease names collide (``A.B`` and ``A-B``)."""
        seen: dict[str, str] = {}
        for symbol in symbols:
            name = lease_name(self.prefix, symbol)
            if name in seen:
                raise StoreError(f"symbols {seen[name]} and {symbol} map to one Lease {name}")
            seen[name] = symbol

    async def load(self, symbols: Sequence[str]) -> dict[str, Versioned]:
        self.check_names(symbols)
        # All at once: a new discovery leader loads while engines ride on their grants
        # (dome.discovery.handover), so a load is one API round trip, not one a symbol.
        found = await asyncio.gather(*(self._load_one(symbol) for symbol in symbols))
        return {symbol: versioned for symbol, versioned in zip(symbols, found, strict=True)
                if versioned is not None}  # fmt: skip

    async def _load_one(self, symbol: str) -> Versioned | None:
        lease = await self._read(lease_name(self.prefix, symbol), symbol)
        if lease is None:
            return await self._carried_over(symbol)
        return _versioned(symbol, lease)

    async def _read(self, name: str, symbol: str) -> client.V1Lease | None:
        try:
            return await self._call(self._leases.read_namespaced_lease, name, self.namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise StoreError(f"reading the Lease of {symbol}: {_described(exc)}") from None

    async def _carried_over(self, symbol: str) -> Versioned | None:
        """The record under the former name, written under the new one; None if none.

        Only a Lease whose record names this symbol is taken: under the former names,
        another exchange's symbol could sit there (``demo-x`` + ``Y``).
        """
        legacy = await self._read(legacy_lease_name(self.prefix, symbol), symbol)
        if legacy is None:
            return None
        annotations = (legacy.metadata.annotations if legacy.metadata else None) or {}
        try:
            owner = json.loads(annotations.get(ANNOTATION, "{}")).get("symbol")
        except ValueError:
            owner = None
        if owner != symbol:
            return None
        record = _versioned(symbol, legacy).record
        try:
            version = await self.put(symbol, record, None)
        except StoreConflict:
            # Another discovery carried it over first: read what it wrote.
            lease = await self._read(lease_name(self.prefix, symbol), symbol)
            return None if lease is None else _versioned(symbol, lease)
        return Versioned(record, version)

    async def put(self, symbol: str, record: SymbolRecord, expected: str | None) -> str:
        name = lease_name(self.prefix, symbol)
        lease = client.V1Lease(
            api_version="coordination.k8s.io/v1",
            kind="Lease",
            metadata=client.V1ObjectMeta(
                name=name,
                namespace=self.namespace,
                labels={"app.kubernetes.io/managed-by": "dome-discovery"},
                annotations={ANNOTATION: json.dumps({"symbol": symbol, **record.to_json()})},
                owner_references=self._owners,
                # The compare in compare-and-set: a replace of any other version is a 409.
                resource_version=expected,
            ),
            # No primary (an election is open) is no holder: the field is left out.
            spec=client.V1LeaseSpec(holder_identity=record.primary or None),
        )
        try:
            if expected is None:
                written = await self._call(
                    self._leases.create_namespaced_lease, self.namespace, lease
                )
            else:
                written = await self._call(
                    self._leases.replace_namespaced_lease, name, self.namespace, lease
                )
        except client.ApiException as exc:
            # 409: someone wrote since we read (or created it first); 404 on a replace:
            # it was deleted since. Either way our version is not the live one.
            if exc.status == 409 or (exc.status == 404 and expected is not None):
                raise StoreConflict(f"the Lease of {symbol} changed: HTTP {exc.status}") from None
            raise StoreError(f"writing the Lease of {symbol}: {_described(exc)}") from None
        version = written.metadata.resource_version if written.metadata else None
        if not version:
            raise StoreError(f"the API server returned the Lease of {symbol} without a version")
        return str(version)

    async def close(self) -> None:
        if self._client is not None:
            api_client, self._client = self._client, None
            await kube.off_loop(api_client.close)

    async def _call(self, method: Callable[..., T], *args: Any) -> T:
        """One API call in a worker thread; an unanswered call is a ``StoreError``."""
        try:
            return await kube.off_loop(method, *args, _request_timeout=self._timeout)
        except kube.KubeConfigError as exc:
            raise StoreError(str(exc)) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreError(f"cannot reach the Kubernetes API at {self.api_url}: {exc}") from None


def _described(exc: client.ApiException) -> str:
    return f"HTTP {exc.status}: {exc.reason or ''} {exc.body or ''}".strip()


def _versioned(symbol: str, lease: client.V1Lease) -> Versioned:
    metadata = lease.metadata or client.V1ObjectMeta()
    try:
        raw = json.loads((metadata.annotations or {})[ANNOTATION])
        return Versioned(SymbolRecord.from_json(raw), str(metadata.resource_version))
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"the Lease of {symbol} holds no placement record: {exc}") from None
