"""Discovery's runtime configuration read from a ConfigMap through the official client.

The operator renders ``NAME-discovery`` with the document under ``discovery.json``
(``dome.discovery.runtime_config``); discovery reads it with a plain GET every second.
A GET of one named object needs only ``get`` with ``resourceNames`` in discovery's Role,
where a watch would need ``list`` and ``watch`` on every ConfigMap of the namespace.
The object's ``resourceVersion`` is the document's version, so an unchanged ConfigMap
is not parsed again.
"""

from __future__ import annotations

import urllib3
from kubernetes import client

from dome import kube
from dome.discovery.runtime_config import CONFIG_KEY, RuntimeConfigError

#: Seconds one GET may take before it counts as a failed read.
TIMEOUT = 5.0


class ConfigMapSource:
    """``fetch`` for ``ConfigFollower``: the ConfigMap ``name`` in ``namespace``."""

    def __init__(self, namespace: str, name: str) -> None:
        self.namespace = namespace
        self.name = name
        try:
            configuration = kube.in_cluster_configuration()
        except kube.KubeConfigError as exc:
            raise RuntimeConfigError(str(exc)) from None
        self._client = kube.api_client(configuration)
        self._core = client.CoreV1Api(self._client)

    async def __call__(self) -> tuple[str, str] | None:
        """(resourceVersion, document); None while the ConfigMap does not exist."""
        where = f"ConfigMap {self.namespace}/{self.name}"
        try:
            found = await kube.off_loop(
                self._core.read_namespaced_config_map,
                self.name,
                self.namespace,
                _request_timeout=TIMEOUT,
            )
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise RuntimeConfigError(f"reading {where}: HTTP {exc.status} {exc.reason}") from None
        except (kube.KubeConfigError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise RuntimeConfigError(f"reading {where}: {exc}") from None
        metadata = found.metadata or client.V1ObjectMeta()
        document = (found.data or {}).get(CONFIG_KEY)
        if document is None:
            raise RuntimeConfigError(f"{where} has no key {CONFIG_KEY}")
        return str(metadata.resource_version or ""), document

    async def close(self) -> None:
        await kube.off_loop(self._client.close)
