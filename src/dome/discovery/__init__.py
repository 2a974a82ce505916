"""Discovery: the engine registry with leases, symbol placement with epochs, failover.

The decisions are a pure state machine (``core``); stores keep epochs safe across
restarts (``store``, ``file_store``, ``kube_store``); the service, its gRPC adapter and
the engine-side ``agent`` are thin layers around them.
"""

from dome.discovery.agent import DiscoveryAgent
from dome.discovery.core import Coordinator, CoreConfig, Timings, UnknownEngine
from dome.discovery.file_store import FileStore
from dome.discovery.kube_store import KubernetesStore
from dome.discovery.records import Acks, PlacementView, Report, SymbolRecord, Versioned
from dome.discovery.server import DiscoverySettings, serve
from dome.discovery.service import Discovery
from dome.discovery.store import MemoryStore, PlacementStore, StoreConflict, StoreError
from dome.serving import ReadyInfo

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
    "ReadyInfo",
    "Report",
    "StoreConflict",
    "StoreError",
    "SymbolRecord",
    "Timings",
    "UnknownEngine",
    "Versioned",
    "serve",
]
