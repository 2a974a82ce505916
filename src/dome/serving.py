"""What every DOME server process does around its gRPC server, in one place.

The engine and discovery each serve Prometheus metrics on a port of their own, stop on
SIGINT/SIGTERM, and announce themselves in a ready file once they serve (``dome up``, the
benchmarks and the tests wait on that file rather than guess); on the way out they undo
all three. The ready file has one shape for every role, so readers need no special case.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from dome.files import write_json

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class ReadyInfo:
    """What a running server tells whoever started it (also the ready file's content)."""

    role: str
    id: str
    address: str
    pid: int
    #: The URL of its metrics page; empty when it serves none.
    metrics: str
    #: The book core an engine runs (``dome.cores``: native or python); empty for others.
    core: str = ""
    #: host:port of the plaintext health port (``dome.health``); empty when it serves none.
    health: str = ""
    #: host:port of an engine's peer port (replication); empty when it has none.
    peer: str = ""


def client_host(host: str) -> str:
    """A host a local client can dial for a server bound to ``host``."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> tuple[int, Any]:
    """Serve ``registry`` at ``/metrics`` over HTTP in a thread; the bound port and server."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return int(server.server_port), server


@contextmanager
def metrics_endpoint(registry: CollectorRegistry, host: str, port: int) -> Iterator[str]:
    """``serve_metrics`` for the block, yielding the page's URL; none (``""``) if port < 0."""
    if port < 0:
        yield ""
        return
    bound, server = serve_metrics(registry, host, port)
    try:
        yield f"http://{client_host(host)}:{bound}/metrics"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def stop_on_signals(stop: asyncio.Event, enabled: bool = True) -> Iterator[None]:
    """Set ``stop`` on SIGINT or SIGTERM during the block (nothing if not ``enabled``)."""
    loop = asyncio.get_running_loop()
    if enabled:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        if enabled:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)


@contextmanager
def announced(path: Path | None, info: ReadyInfo) -> Iterator[None]:
    """Write ``info`` to the ready file ``path`` (atomically) for the block, then remove it."""
    if path is not None:
        write_json(path, asdict(info), indent=None)
    try:
        yield
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
