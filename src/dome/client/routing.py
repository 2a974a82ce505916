"""Where a symbol's orders and streams go in a cluster: the placement, kept current.

The SDK routes orders straight to each symbol's primary (DESIGN.md section 3) rather
than through whichever engine it first reached, so it must know the placement. A
``Router`` asks discovery for the client's home engine and the placement
(``AssignClient``), then follows ``WatchPlacement`` in the background, reconnecting with
backoff whenever that stream breaks (discovery restarting, a network blip): the latest
placement received wins. Callers ask for a symbol's primary, or the live replicas that
serve its streams, and wait for the next placement after a failure
(``wait_for_change``). Channels are pooled, one per engine address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import grpc

from dome.client.errors import from_grpc
from dome.tls import TlsFiles, open_channel
from dome.v1 import discovery_pb2 as disc
from dome.v1 import discovery_pb2_grpc as disc_grpc

log = logging.getLogger(__name__)

#: Longest pause between attempts to reopen the placement stream.
MAX_BACKOFF = 1.0


@dataclass(frozen=True)
class SymbolRoute:
    """One symbol's replicas as the latest placement names them (engine ids)."""

    symbol: str
    epoch: int
    #: Engine id of the primary; "" while an election is open.
    primary: str
    followers: tuple[str, ...]


class Router:
    """The placement of one cluster, followed from its discovery service."""

    def __init__(self, discovery: str, client_id: str, *, tls: TlsFiles | None = None) -> None:
        self.discovery = discovery
        self.client_id = client_id
        self._tls = tls
        self._channel = open_channel(discovery, tls)
        self._stub = disc_grpc.DiscoveryServiceStub(self._channel)
        #: Address of the engine discovery assigned this client (instruments, fallbacks).
        self.home = ""
        #: How many placements this router has received; only ever grows.
        self.version = 0
        self.routes: dict[str, SymbolRoute] = {}
        self._addresses: dict[str, str] = {}
        self._alive: dict[str, bool] = {}
        self._changed = asyncio.Event()
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._watch: asyncio.Task[None] | None = None

    async def start(self, deadline: float) -> None:
        """Ask discovery for a home engine, retrying until ``deadline`` (loop time)."""
        loop = asyncio.get_running_loop()
        delay = 0.05
        request = disc.AssignClientRequest(client_id=self.client_id)
        while True:
            try:
                left = max(deadline - loop.time(), 0.05)
                assigned = await self._stub.AssignClient(request, timeout=left)
                break
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or loop.time() + delay >= deadline:
                    raise from_grpc(exc) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
        self.home = assigned.address
        self.apply(assigned.placement)
        if self._watch is None:
            self._watch = asyncio.create_task(self._follow(), name="dome-placement")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()
        await self._channel.close(None)

    # ------------------------------------------------------------------ placement

    def apply(self, placement: disc.Placement) -> None:
        """Make ``placement`` the current one and wake everyone waiting for a change."""
        for engine in placement.engines:
            self._addresses[engine.engine_id] = engine.address
        self._alive = {e.engine_id: e.alive for e in placement.engines}
        self.routes = {
            s.symbol: SymbolRoute(s.symbol, s.epoch, s.primary, tuple(s.followers))
            for s in placement.symbols
        }
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for_change(self, version: int, within: float) -> None:
        """Return once a placement newer than ``version`` arrived, or after ``within`` s."""
        if self.version > version or within <= 0:
            return
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancel that
        # lands as the event fires, and a cancelled caller would keep waiting.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._changed.wait()

    def primary(self, symbol: str) -> str | None:
        """Address of the symbol's primary; None while it has none (or is not placed)."""
        route = self.routes.get(symbol)
        if route is None or not route.primary:
            return None
        return self._addresses.get(route.primary)

    def replicas(self, symbol: str) -> list[str]:
        """Addresses serving the symbol's streams: primary first, live engines before dead."""
        route = self.routes.get(symbol)
        if route is None:
            return [self.home] if self.home else []
        ids = [i for i in (route.primary, *route.followers) if i and i in self._addresses]
        ids.sort(key=lambda i: not self._alive.get(i, True))
        return [self._addresses[i] for i in ids]

    def engines(self) -> list[str]:
        """Addresses of live engines, the home engine first (for calls about no symbol)."""
        live = [a for i, a in sorted(self._addresses.items()) if self._alive.get(i, False)]
        return [self.home, *(a for a in live if a != self.home)] if self.home else live

    def channel(self, address: str) -> grpc.aio.Channel:
        """The pooled channel to one engine."""
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = open_channel(address, self._tls)
        return channel

    async def _follow(self) -> None:
        """Apply every placement discovery publishes; reopen the stream when it breaks."""
        delay = 0.05
        while True:
            call = self._stub.WatchPlacement(disc.WatchPlacementRequest())
            try:
                async for placement in call:
                    self.apply(placement)
                    delay = 0.05
            except grpc.aio.AioRpcError as exc:
                log.debug("placement stream broke: %s", exc.code().name)
            finally:
                call.cancel()
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
