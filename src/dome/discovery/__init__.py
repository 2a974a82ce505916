"""Discovery: the engine registry with leases, symbol placement with epochs, failover.

The decisions are a pure state machine (``core``); stores keep epochs safe across
restarts (``store``, ``file_store``, ``kube_store``); the service, its gRPC adapter and
the engine-side ``agent`` are thin layers around them.

The names below load on first use (PEP 562): an engine importing ``dome.discovery.agent``
or a test importing ``dome.discovery.core`` does not pay for the gRPC server, the
Kubernetes client or the HTTP stack it never calls.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dome.discovery.agent import DiscoveryAgent
    from dome.discovery.core import Coordinator, CoreConfig, Timings, UnknownEngine
    from dome.discovery.file_store import FileStore
    from dome.discovery.kube_store import KubernetesStore
    from dome.discovery.records import Acks, PlacementView, Report, SymbolRecord, Versioned
    from dome.discovery.server import DiscoverySettings, serve
    from dome.discovery.service import Discovery
    from dome.discovery.store import MemoryStore, PlacementStore, StoreConflict, StoreError

# Each public name and the module that defines it.
_HOMES = {
    "DiscoveryAgent": "agent",
    "Coordinator": "core",
    "CoreConfig": "core",
    "Timings": "core",
    "UnknownEngine": "core",
    "FileStore": "file_store",
    "KubernetesStore": "kube_store",
    "Acks": "records",
    "PlacementView": "records",
    "Report": "records",
    "SymbolRecord": "records",
    "Versioned": "records",
    "DiscoverySettings": "server",
    "serve": "server",
    "Discovery": "service",
    "MemoryStore": "store",
    "PlacementStore": "store",
    "StoreConflict": "store",
    "StoreError": "store",
}

# Spelled out, not sorted(_HOMES): linters and type checkers read it literally.
__all__ = [
    "Acks",
    "Coordinator",
    "CoreConfig",
    "Discovery",
    "DiscoveryAgent",
    "DiscoverySettings",
    "FileStore",
    "KubernetesStore",
    "MemoryStore",
    "PlacementStore",
    "PlacementView",
    "Report",
    "StoreConflict",
    "StoreError",
    "SymbolRecord",
    "Timings",
    "UnknownEngine",
    "Versioned",
    "serve",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
