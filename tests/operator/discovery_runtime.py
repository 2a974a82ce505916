"""A real ``dome discovery`` on 127.0.0.1, port 0, with engines that register with it.

The server is ``dome.discovery.server.serve`` in-process (a memory store, no metrics
port); the engines are the discovery tests' ``FakeEngine``s, real ``DiscoveryAgent``s
that heartbeat and report replicas like an engine, named like an Exchange's pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dome.discovery.core import CoreConfig, Timings
from dome.discovery.server import DiscoverySettings, ReadyInfo, serve
from dome.discovery.store import MemoryStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "discovery"))
from discovery_fakes import PEER, FakeEngine, full_placement

__all__ = ["FakeEngine", "RunningDiscovery", "running_discovery"]


@dataclass
class RunningDiscovery:
    address: str
    engines: dict[str, FakeEngine] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop_engine(self, engine_id: str) -> None:
        await self.engines.pop(engine_id).agent.stop()


@contextlib.asynccontextmanager
async def running_discovery(
    symbols: Sequence[str], engine_ids: Sequence[str], *, factor: int = 3
) -> AsyncIterator[RunningDiscovery]:
    """Discovery serving ``symbols`` with ``engine_ids`` registered and every symbol placed.

    Stopping the discovery early (``running.stop.set()``) is allowed; the block's end
    stops whatever still runs.
    """
    ready: asyncio.Future[ReadyInfo] = asyncio.get_running_loop().create_future()
    settings = DiscoverySettings(
        core=CoreConfig(
            tuple(symbols), factor, engines_expected=len(engine_ids), timings=Timings()
        ),
        metrics_port=-1,
        peer_auth=PEER,
    )
    running = RunningDiscovery("")
    task = asyncio.create_task(
        serve(settings, ready.set_result, running.stop, store=MemoryStore(), handle_signals=False)
    )
    try:
        running.address = (await asyncio.wait_for(ready, 10)).address
        running.engines = {e: FakeEngine(running.address, e) for e in engine_ids}
        await asyncio.gather(*(engine.agent.start() for engine in running.engines.values()))
        await full_placement(next(iter(running.engines.values())), len(symbols))
        yield running
    finally:
        await asyncio.gather(*(engine.agent.stop() for engine in running.engines.values()))
        running.stop.set()
        await asyncio.wait_for(task, 10)
