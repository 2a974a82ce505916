"""The Kubernetes store: one ``coordination.k8s.io/v1`` Lease per symbol.

The Lease is named ``<prefix>-<symbol in lower case, other characters as '-'>``; its
``spec.holderIdentity`` is the primary (readable with ``kubectl get leases``) and the
whole record sits in the ``dome.dev/placement`` annotation. A compare-and-set is a
``PUT`` carrying the ``metadata.resourceVersion`` that was read (or a ``POST`` for a new
Lease): the API server answers 409 when anyone wrote in between, which is what keeps
two discovery pods (a rolling update) from both moving a symbol to one epoch.

Discovery needs ``get``, ``create`` and ``update`` on ``leases`` in its namespace.
"""

from __future__ import annotations

import json
import os
import re
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from dome.discovery.records import SymbolRecord, Versioned
from dome.discovery.store import StoreConflict, StoreError

#: The annotation holding the record as JSON.
ANNOTATION = "dome.dev/placement"
#: Where a pod finds its service account.
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: Names another directory holding the service account's ``token`` and ``ca.crt``: for a
#: discovery started outside a pod, which has no kubelet to mount them at SERVICE_ACCOUNT
#: (tests/operator/test_rendered_exchange_runs.py runs the rendered pods on localhost).
SERVICE_ACCOUNT_ENV = "DOME_SERVICE_ACCOUNT_DIR"
_GROUP = "/apis/coordination.k8s.io/v1"


def lease_name(prefix: str, symbol: str) -> str:
    """The Lease of ``symbol``: a valid object name.

    >>> lease_name("demo", "BTC-USD"), lease_name("demo", "eth/usd_perp")
    ('demo-btc-usd', 'demo-eth-usd-perp')
    """
    cleaned = re.sub(r"[^a-z0-9]+", "-", symbol.lower()).strip("-")
    return f"{prefix}-{cleaned}"[:253].rstrip("-")


class KubernetesStore:
    """A ``PlacementStore`` in Leases, spoken to over the API server's REST interface."""

    def __init__(
        self,
        namespace: str,
        prefix: str,
        api_url: str,
        *,
        token_file: Path | None = None,
        ca_file: Path | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.namespace = namespace
        self.prefix = prefix
        self.api_url = api_url.rstrip("/")
        self._token_file = token_file
        self._ca_file = ca_file
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def in_cluster(cls, namespace: str, prefix: str) -> KubernetesStore:
        """Use the pod's service account, as every in-cluster client does.

        The API server is ``KUBERNETES_SERVICE_HOST``:``KUBERNETES_SERVICE_PORT`` (set in
        every pod), the token and CA are read from SERVICE_ACCOUNT, or from the directory
        ``DOME_SERVICE_ACCOUNT_DIR`` names.
        """
        account = Path(os.environ.get(SERVICE_ACCOUNT_ENV) or SERVICE_ACCOUNT)
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise StoreError("not in a cluster: KUBERNETES_SERVICE_HOST is not set")
        if ":" in host:
            host = f"[{host}]"
        return cls(
            namespace,
            prefix,
            f"https://{host}:{port}",
            token_file=account / "token",
            ca_file=account / "ca.crt",
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
        loaded: dict[str, Versioned] = {}
        for symbol in symbols:
            status, body = await self._call("GET", self._url(symbol))
            if status == 404:
                continue
            if status != 200:
                raise StoreError(f"reading the Lease of {symbol}: HTTP {status}: {body}")
            loaded[symbol] = _versioned(symbol, body)
        return loaded

    async def put(self, symbol: str, record: SymbolRecord, expected: str | None) -> str:
        metadata: dict[str, Any] = {
            "name": lease_name(self.prefix, symbol),
            "namespace": self.namespace,
            "labels": {"app.kubernetes.io/managed-by": "dome-discovery"},
            "annotations": {ANNOTATION: json.dumps({"symbol": symbol, **record.to_json()})},
        }
        if expected is not None:
            metadata["resourceVersion"] = expected
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {"holderIdentity": record.primary or None},
        }
        if expected is None:
            status, body = await self._call("POST", self._url(None), lease)
        else:
            status, body = await self._call("PUT", self._url(symbol), lease)
        if status == 409 or (status == 404 and expected is not None):
            raise StoreConflict(f"the Lease of {symbol} changed: HTTP {status}")
        if status not in (200, 201):
            raise StoreError(f"writing the Lease of {symbol}: HTTP {status}: {body}")
        return str(body["metadata"]["resourceVersion"])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _url(self, symbol: str | None) -> str:
        base = f"{self.api_url}{_GROUP}/namespaces/{self.namespace}/leases"
        return base if symbol is None else f"{base}/{lease_name(self.prefix, symbol)}"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._token_file is not None:
            try:
                # Re-read each time: projected service-account tokens rotate.
                token = self._token_file.read_text().strip()
            except OSError as exc:
                raise StoreError(f"cannot read {self._token_file}: {exc}") from None
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            ssl_context: ssl.SSLContext | bool = True
            if self._ca_file is not None:
                ssl_context = ssl.create_default_context(cafile=str(self._ca_file))
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(ssl=ssl_context)
            )
        return self._session

    async def _call(
        self, method: str, url: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        try:
            async with self._client().request(
                method, url, json=body, headers=self._headers()
            ) as response:
                text = await response.text()
                try:
                    data = json.loads(text) if text else {}
                except json.JSONDecodeError:
                    data = text
                return response.status, data
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as exc:
            raise StoreError(f"cannot reach the Kubernetes API at {self.api_url}: {exc}") from None


def _versioned(symbol: str, lease: Any) -> Versioned:
    try:
        metadata = lease["metadata"]
        raw = json.loads(metadata["annotations"][ANNOTATION])
        return Versioned(SymbolRecord.from_json(raw), str(metadata["resourceVersion"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"the Lease of {symbol} holds no placement record: {exc}") from None
