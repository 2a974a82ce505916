"""The discovery driver: clock, store and watchers around the pure ``Coordinator``.

It owns the only loop that changes placement: every ``tick_interval`` (and at once
after a registration) it asks the core what to change, writes each proposal to the
store with compare-and-set, and only then commits and publishes it. Everything that
writes (ticks, UpdateInSync) runs under one lock, so proposals are applied in order.
Watchers get full placements through bounded queues; one that falls behind is cut
off (it resubscribes and gets the current placement) instead of slowing discovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from dome.discovery.core import (
    Coordinator,
    CoreConfig,
    DrainStatus,
    EvacuationStatus,
    Event,
    InSyncDecision,
)
from dome.discovery.errors import SlowWatcher, Unavailable
from dome.discovery.metrics import DiscoveryMetrics
from dome.discovery.records import PlacementView, Proposal, Report, SymbolView, Versioned
from dome.discovery.runtime_config import RuntimeConfigError
from dome.discovery.spread import assign_client
from dome.discovery.store import PlacementStore, StoreConflict, StoreError

log = logging.getLogger("dome.discovery")

#: Placements a watcher may have queued before it is cut off.
WATCH_BUFFER = 64


class Watcher:
    """One WatchPlacement subscriber: an async iterator of placements."""

    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[PlacementView | None] = asyncio.Queue(size)
        self.cut = False

    def offer(self, view: PlacementView) -> bool:
        """Queue ``view``; on overflow drop the backlog and mark the watcher cut."""
        try:
            self._queue.put_nowait(view)
            return True
        except asyncio.QueueFull:
            self.cut = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)
            return False

    def close(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[PlacementView]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[PlacementView]:
        while True:
            view = await self._queue.get()
            if view is None:
                if self.cut:
                    raise SlowWatcher("placement watcher fell behind; watch again")
                raise Unavailable("discovery is stopping")
            yield view


class Discovery:
    """The running discovery: what the gRPC servicer calls."""

    def __init__(
        self,
        config: CoreConfig,
        store: PlacementStore,
        metrics: DiscoveryMetrics | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        tick_interval: float = 0.05,
        watch_buffer: int = WATCH_BUFFER,
    ) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics or DiscoveryMetrics()
        self.clock = clock
        self.tick_interval = tick_interval
        self.core = Coordinator(config, clock())
        self.placed = asyncio.Event()
        self._watch_buffer = watch_buffer
        self._watchers: set[Watcher] = set()
        self._lock = asyncio.Lock()
        self._kick = asyncio.Event()
        self._published = -1
        self._stuck: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load the store (a restart continues its epochs), then start ticking."""
        stored = await self.store.load(self.config.symbols)
        self.core = Coordinator(self.config, self.clock())
        self.core.load(stored, self.clock())
        if stored:
            log.info(
                "placement loaded",
                extra={
                    "symbols": len(stored),
                    "epochs": {s: v.record.epoch for s, v in stored.items()},
                },
            )
        self._task = asyncio.create_task(self._run(), name="discovery-tick")

    def close_watchers(self) -> None:
        """End every WatchPlacement stream (UNAVAILABLE): the server is going away."""
        for watcher in list(self._watchers):
            watcher.close()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # asyncio.wait, not ``suppress(CancelledError): await``: that would also
            # swallow a cancellation of stop() itself.
            await asyncio.wait({self._task})
            self._task = None
        self.close_watchers()
        await self.store.close()

    # -- calls ----------------------------------------------------------------------

    def register(
        self,
        engine_id: str,
        incarnation: str,
        address: str,
        metrics_url: str,
        reports: list[Report],
        peer_address: str = "",
    ) -> PlacementView:
        now = self.clock()
        self.core.register(
            engine_id, incarnation, address, metrics_url, reports, now, peer_address=peer_address
        )
        self._kick.set()
        self._after_change()
        return self.core.view(now)

    def heartbeat(self, engine_id: str, incarnation: str, reports: list[Report]) -> int:
        """Renew a lease; raises ``UnknownEngine`` when the engine must register again."""
        return self.core.heartbeat(engine_id, incarnation, reports, self.clock())

    def drain(self, engine_id: str, incarnation: str) -> DrainStatus:
        """Start (or follow) an engine's drain; raises ``UnknownEngine`` like heartbeat."""
        status = self.core.drain(engine_id, incarnation, self.clock())
        self._kick.set()
        self._after_change()
        return status

    def evacuate(self, engine_ids: list[str]) -> EvacuationStatus:
        """Start, follow or (with no ids) cancel moving every replica off ``engine_ids``."""
        status = self.core.evacuate(engine_ids, self.clock())
        self._kick.set()
        self._after_change()
        return status

    async def update_in_sync(
        self, symbol: str, epoch: int, primary: str, in_sync: list[str]
    ) -> tuple[bool, SymbolView | None]:
        """Persist, then publish, a primary's in-sync change; refused when stale."""
        async with self._lock:
            decision: InSyncDecision = self.core.update_in_sync(symbol, epoch, primary, in_sync)
            accepted = decision.accepted
            if decision.proposal is not None:
                accepted = await self._apply(decision.proposal)
            self._after_change()
            current = self.core.records().get(symbol)
            return accepted, self.core.symbol_view(symbol) if current is not None else None

    async def reconfigure(self, config: CoreConfig) -> None:
        """Apply a new configuration while running (a scale, an instruments edit).

        With symbols added, the store is read for them first, as a start reads it: that
        refuses names whose records would collide (``StoreError``), and a symbol that had
        a record (removed, then added back) resumes its epoch instead of starting over.
        Raises ``RuntimeConfigError`` and changes nothing when the store refuses.
        """
        async with self._lock:
            config = replace(config, timings=self.config.timings)
            added = set(config.symbols) - set(self.config.symbols)
            stored: dict[str, Versioned] = {}
            if added:
                try:
                    loaded = await self.store.load(config.symbols)
                except StoreError as exc:
                    raise RuntimeConfigError(f"the store refused the new symbols: {exc}") from None
                stored = {s: v for s, v in loaded.items() if s in added}
            self.config = config
            self.core.reconfigure(self.config, self.clock(), stored)
            self.metrics.declare_symbols(self.config.symbols)
            log.info(
                "discovery reconfigured",
                extra={
                    "symbols": len(self.config.symbols),
                    "replication_factor": self.config.replication_factor,
                    "acks": self.config.acks.value,
                    "engines_expected": self.config.engines_expected,
                },
            )
            self._after_change()
        self._kick.set()

    def placement(self) -> PlacementView:
        return self.core.view(self.clock())

    def assign(self, client_id: str) -> tuple[str, str, PlacementView]:
        """The engine a client should use: rendezvous hashing over live, undrained engines."""
        now = self.clock()
        engine = assign_client(client_id, self.core.serving_engines(now)) or ""
        return engine, self.core.address_of(engine), self.core.view(now)

    async def watch(self) -> AsyncIterator[PlacementView]:
        """The current placement, then every published change."""
        watcher = Watcher(self._watch_buffer)
        watcher.offer(self.placement())
        self._watchers.add(watcher)
        self.metrics.watchers.set(len(self._watchers))
        try:
            async for view in watcher:
                yield view
        finally:
            self._watchers.discard(watcher)
            self.metrics.watchers.set(len(self._watchers))

    async def tick(self) -> None:
        """One round of decisions (the loop calls this; tests may too)."""
        async with self._lock:
            for proposal in self.core.tick(self.clock()):
                if not await self._apply(proposal):
                    break
            self._after_change()

    # -- internals ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("discovery tick failed")
            # asyncio.timeout, never asyncio.wait_for: on Python 3.11 wait_for returns
            # instead of raising when a kick and stop()'s cancel land together, and the
            # loop would tick on forever with stop() waiting for it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick_interval):
                    await self._kick.wait()
            self._kick.clear()

    async def _apply(self, proposal: Proposal) -> bool:
        """Compare-and-set ``proposal``, then commit it; False when it did not land."""
        symbol = proposal.symbol
        try:
            version = await self.store.put(symbol, proposal.record, proposal.expected)
        except StoreConflict as exc:
            self.metrics.store_conflicts.inc()
            log.warning("placement write lost", extra={"symbol": symbol, "error": str(exc)})
            try:
                stored = await self.store.load([symbol])
            except StoreError as again:
                self.metrics.store_errors.inc()
                log.error("store unreadable", extra={"symbol": symbol, "error": str(again)})
                return False
            self.core.adopt(symbol, stored.get(symbol), self.clock())
            return False
        except StoreError as exc:
            self.metrics.store_errors.inc()
            log.error("placement write failed", extra={"symbol": symbol, "error": str(exc)})
            return False
        self.core.commit(proposal, version, self.clock())
        return True

    def _after_change(self) -> None:
        for event in self.core.events:
            self._record(event)
        self.core.events.clear()
        now = self.clock()
        m = self.metrics
        alive = self.core.alive_engines(now)
        m.engines.labels("alive").set(len(alive))
        m.engines.labels("dead").set(len(self.core.engines(now)) - len(alive))
        m.elections_open.set(len(self.core.open_elections()))
        stuck = self.core.stuck_elections(now)
        m.elections_stuck.set(len(stuck))
        if stuck != self._stuck:
            self._stuck = stuck
            if stuck:
                log.error("elections waiting for an eligible replica", extra={"symbols": stuck})
        for symbol, versioned in self.core.records().items():
            m.epoch.labels(symbol).set(versioned.record.epoch)
        if self.core.placed and not self.placed.is_set():
            self.placed.set()
            log.info("placement ready", extra={"version": self.core.version})
        if self.core.version != self._published:
            self._published = self.core.version
            m.placement_version.set(self.core.version)
            view = self.core.view(now)
            for watcher in list(self._watchers):
                if not watcher.offer(view):
                    self._watchers.discard(watcher)
                    m.watchers_cut.inc()
                    log.warning("placement watcher cut off: too slow")

    def _record(self, event: Event) -> None:
        m = self.metrics
        fields = {"event": event.kind, "symbol": event.symbol, "engine": event.engine}
        if event.kind == "lease_expired":
            m.lease_expirations.inc()
            log.warning("engine lease lapsed", extra=fields)
        elif event.kind == "election_opened":
            if event.detail in ("rebalance", "drain"):
                m.handoffs.labels(event.symbol).inc()
            else:
                m.failovers.labels(event.symbol).inc()
            log.warning("election opened", extra={**fields, "reason": event.detail})
        elif event.kind == "elected":
            log.info("primary elected", extra={**fields, "reason": event.detail})
        elif event.kind == "epoch":
            log.info("epoch", extra={**fields, "epoch": int(event.detail)})
        elif event.kind == "draining":
            log.info("engine draining", extra=fields)
        elif event.kind == "evacuating":
            log.info("evacuating engines", extra={**fields, "leaving": event.detail})
        elif event.kind == "registered":
            log.info("engine registered", extra={**fields, "incarnation": event.detail})
        elif event.kind == "reconfigured":
            pass  # reconfigure() logs it with the new settings
        else:
            log.info(event.kind, extra=fields)
