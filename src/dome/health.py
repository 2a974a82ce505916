"""A plaintext health port for the kubelet's probes, apart from the (maybe TLS) gRPC port.

With ``--tls-dir`` the engine and discovery accept only mutual TLS on their service port,
but a kubelet gRPC probe speaks plaintext and presents no certificate: probing that port
fails the startup probe and the pod crash-loops. So each process can serve the standard
``grpc.health.v1.Health`` service, and nothing else, on a port of its own
(``--health-port``): no order, placement or replication call is reachable there, so
leaving it plaintext gives away only "alive" and "ready".

Two services, one per probe question:

- ``""`` (liveness, startup): SERVING from the moment the port listens; the process
  serves. A stuck event loop stops answering, which is what liveness should catch.
- ``READINESS`` (readiness): SERVING while ``ready()`` holds, re-evaluated every
  ``interval`` seconds by a task on the process's own loop (the answer is only as old as
  that; the kubelet probes every few seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

#: The service name the readiness probe asks for (``grpc.service`` in the probe).
READINESS = "readiness"
#: How often readiness is re-evaluated.
READINESS_INTERVAL_S = 0.5

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@contextlib.asynccontextmanager
async def health_port(
    host: str,
    port: int,
    ready: Callable[[], bool],
    *,
    interval: float = READINESS_INTERVAL_S,
) -> AsyncIterator[int | None]:
    """Serve liveness and ``ready()`` on plaintext ``host:port`` for the block.

    Yields the bound port (``port`` 0 picks a free one), or None when ``port`` < 0 (no
    health port). On the way out both services turn NOT_SERVING before the server stops,
    so a stopping process leaves its Service's endpoints first.
    """
    if port < 0:
        yield None
        return
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    # grpc-stubs predate the asyncio health servicer, hence the ignore.
    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    await servicer.set("", _SERVING)
    await servicer.set(READINESS, _NOT_SERVING)

    async def follow() -> None:
        last: bool | None = None
        while True:
            now = bool(ready())
            if now is not last:
                await servicer.set(READINESS, _SERVING if now else _NOT_SERVING)
                last = now
            await asyncio.sleep(interval)

    task = asyncio.create_task(follow(), name="readiness")
    try:
        yield bound
    finally:
        task.cancel()
        await asyncio.wait({task})
        await servicer.enter_graceful_shutdown()
        await server.stop(0)
