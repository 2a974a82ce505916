"""The engine's side of discovery: register, renew the lease, follow the placement.

An engine holds one ``DiscoveryAgent``. The agent registers (retrying with backoff
until discovery answers), heartbeats every ``heartbeat_interval`` with the engine's
replica reports, registers again when discovery answers NOT_FOUND (it restarted, or
our lease lapsed), and follows ``WatchPlacement``, calling ``on_placement`` for every
placement newer than the last one seen.

``lease_valid()`` is the engine's write fence: true until ``lease_ttl`` after the
*sending* time of the last heartbeat discovery answered. Discovery declares the engine
dead only ``lease_ttl + grace`` after *receiving* it, so a primary that cannot renew
stops writing before anyone may be promoted in its place. Every unary call has a
deadline, so nothing here hangs while discovery is down. Every call carries the
exchange's peer secret (``metadata``, from ``dome.peer_auth``): discovery answers an
engine without it UNAUTHENTICATED.

``drain()`` is the graceful way out: discovery hands this engine's primaries to in-sync
followers by planned elections while the engine still heartbeats and replicates, and
the agent waits, through the placement it watches, until the engine leads nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from dome.tls import open_channel
from dome.tls_renewal import TlsSource
from dome.v1 import discovery_pb2 as pb
from dome.v1 import discovery_pb2_grpc as pb_grpc

log = logging.getLogger("dome.discovery.agent")

#: Backoff between failed attempts to reach discovery, in seconds.
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 1.0


class DiscoveryAgent:
    """One engine's registration, lease and placement feed."""

    def __init__(
        self,
        address: str,
        engine_id: str,
        advertise_address: str,
        metrics_url: str,
        reports: Callable[[], list[pb.ReplicaReport]],
        on_placement: Callable[[pb.Placement], None],
        *,
        channel_options: Sequence[tuple[str, Any]] | None = None,
        tls: TlsSource | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        call_timeout: float = 1.0,
        incarnation: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        peer_address: str = "",
    ) -> None:
        self.address = address
        self.engine_id = engine_id
        self.advertise_address = advertise_address
        self.metrics_url = metrics_url
        #: Where this engine serves replication; empty: at ``advertise_address``.
        self.peer_address = peer_address
        #: Changes with every process start (every agent): discovery tells restarts apart.
        self.incarnation = incarnation or uuid.uuid4().hex
        self.lease_ttl = 1.0
        self.heartbeat_interval = 0.2
        self.current_placement: pb.Placement | None = None
        self._reports = reports
        self._on_placement = on_placement
        self._call_timeout = call_timeout
        #: The peer credential every call carries.
        self._metadata = tuple(metadata)
        self._clock = clock
        # Reconnect fast (open_channel's RECONNECT_OPTIONS): the lease depends on it.
        self._options = list(channel_options or [])
        self._tls = tls
        self._generation = 0 if tls is None else tls.generation
        self._channel = open_channel(address, None if tls is None else tls.files, self._options)
        self._stub_in_force = pb_grpc.DiscoveryServiceStub(self._channel)
        #: Channels opened with TLS files since renewed; closed by ``stop``.
        self._retired: list[grpc.aio.Channel] = []
        self._lease_sent: float | None = None
        self._poked = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._watch_restart = asyncio.Event()
        self._placement_changed = asyncio.Event()

    @property
    def _stub(self) -> pb_grpc.DiscoveryServiceAsyncStub:
        """The stub of every call: on a channel with the TLS files in force.

        After a renewal (``dome.tls_renewal``) calls go through a new channel, so a
        reconnection to discovery never presents a certificate that has since expired;
        the placement stream on the old channel runs on until it ends.
        """
        if self._tls is not None and self._tls.generation != self._generation:
            self._generation = self._tls.generation
            self._retired.append(self._channel)
            self._channel = open_channel(self.address, self._tls.files, self._options)
            self._stub_in_force = pb_grpc.DiscoveryServiceStub(self._channel)
        return self._stub_in_force

    # -- public ---------------------------------------------------------------------

    async def start(self) -> None:
        """Register (retrying until discovery answers), then heartbeat and watch."""
        await self._register_until_answered()
        self._tasks = [
            asyncio.create_task(self._heartbeat_loop(), name=f"heartbeat-{self.engine_id}"),
            asyncio.create_task(self._watch_loop(), name=f"watch-placement-{self.engine_id}"),
        ]

    async def stop(self) -> None:
        """Stop heartbeating and watching; discovery fails over once the lease lapses."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # asyncio.wait, not ``suppress(CancelledError): await task``: that would also
            # swallow a cancellation of stop() itself.
            await asyncio.wait(self._tasks)
        for task in self._tasks:
            if not task.cancelled() and task.exception() is not None:
                log.error("%s failed", task.get_name(), exc_info=task.exception())
        self._tasks = []
        self._lease_sent = None
        for channel in [*self._retired, self._channel]:
            await channel.close(None)
        self._retired = []

    def lease_valid(self) -> bool:
        """True while discovery certainly still counts this engine alive."""
        sent = self._lease_sent
        return sent is not None and self._clock() < sent + self.lease_ttl

    def poke(self) -> None:
        """Heartbeat now (after a placement change discovery waits for our reports)."""
        self._poked.set()

    async def drain(self, within: float) -> bool:
        """Hand this engine's primaries to in-sync followers; True once it leads nothing.

        Calls ``DrainEngine`` (again after every placement change, at least every
        heartbeat interval, so failed calls are retried and progress is seen), then waits
        until the placement it watches shows no symbol led by this engine and no open
        election it could win. False after ``within`` seconds, or at once when what it
        still leads has nobody else to go to (every other replica is gone or draining
        too, as when the whole cluster stops) or when discovery is out of reach and the
        lease has lapsed. Heartbeats go on throughout: the caller calls ``stop()`` after.
        """
        request = pb.DrainEngineRequest(engine_id=self.engine_id, incarnation=self.incarnation)
        try:
            async with asyncio.timeout(within):
                while True:
                    self._placement_changed.clear()
                    try:
                        response = await self._stub.DrainEngine(
                            request, timeout=self._call_timeout, metadata=self._metadata
                        )
                    except grpc.aio.AioRpcError as exc:
                        if not self.lease_valid():
                            # Discovery is out of reach and our lease lapsed: there is
                            # nobody to hand off through; failover by lease does it.
                            log.warning(
                                "cannot drain: discovery unreachable and the lease lapsed",
                                extra={"code": exc.code().name},
                            )
                            return False
                        log.info("DrainEngine failed; retrying", extra={"code": exc.code().name})
                    else:
                        if self._led_nothing():
                            return True
                        if response.primaries and response.stranded == response.primaries:
                            log.warning(
                                "no other replica can take this engine's primaries",
                                extra={"stranded": response.stranded},
                            )
                            return False
                    # Not wait_for (see _heartbeat_loop): a timeout here only re-asks.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.heartbeat_interval):
                            await self._placement_changed.wait()
        except TimeoutError:
            return False

    def _led_nothing(self) -> bool:
        """Whether the latest placement has this engine lead nothing, nor about to."""
        placement = self.current_placement
        if placement is None:
            return False
        me = self.engine_id
        return not any(
            s.primary == me or (not s.primary and me in s.followers and me in s.in_sync)
            for s in placement.symbols
        )

    async def update_in_sync(self, symbol: str, epoch: int, in_sync: list[str]) -> bool:
        """Ask discovery to record ``in_sync`` for ``symbol`` (we are its primary)."""
        request = pb.UpdateInSyncRequest(
            symbol=symbol, epoch=epoch, primary=self.engine_id, in_sync=in_sync
        )
        try:
            response = await self._stub.UpdateInSync(
                request, timeout=self._call_timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "UpdateInSync failed",
                extra={"symbol": symbol, "code": exc.code().name, "error": exc.details()},
            )
            return False
        return bool(response.accepted)

    # -- internals ------------------------------------------------------------------

    async def _register(self) -> None:
        sent = self._clock()
        response = await self._stub.RegisterEngine(
            pb.RegisterEngineRequest(
                engine_id=self.engine_id,
                address=self.advertise_address,
                metrics_url=self.metrics_url,
                peer_address=self.peer_address,
                replicas=self._reports(),
                incarnation=self.incarnation,
            ),
            timeout=self._call_timeout,
            metadata=self._metadata,
        )
        self.lease_ttl = response.lease_ttl_seconds or self.lease_ttl
        self.heartbeat_interval = response.heartbeat_interval_seconds or self.heartbeat_interval
        # The placement first: the lease must not become valid before we know it.
        self._deliver(response.placement, force=True)
        self._lease_sent = sent
        log.info("registered with discovery", extra={"discovery": self.address})

    async def _register_until_answered(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            try:
                await self._register()
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                    # No retry helps until the peer secrets agree: say so at error level.
                    delay = BACKOFF_MAX
                    log.error(
                        "discovery refused this engine's peer credentials; retrying",
                        extra={"discovery": self.address, "error": exc.details()},
                    )
                else:
                    log.info(
                        "discovery not answering; retrying",
                        extra={
                            "discovery": self.address,
                            "code": exc.code().name,
                            "retry_in": delay,
                        },
                    )
            await asyncio.sleep(delay)  # backoff between attempts, not a wait on a condition
            delay = min(delay * 2, BACKOFF_MAX)

    async def _heartbeat_loop(self) -> None:
        while True:
            # asyncio.timeout, never asyncio.wait_for: on Python 3.11 wait_for returns
            # instead of raising when a poke and stop()'s cancel land together, and the
            # loop would heartbeat on forever with stop() waiting for it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat_interval):
                    await self._poked.wait()
            self._poked.clear()
            await self._heartbeat_once()

    async def _heartbeat_once(self) -> None:
        sent = self._clock()
        request = pb.HeartbeatRequest(
            engine_id=self.engine_id, incarnation=self.incarnation, replicas=self._reports()
        )
        try:
            response = await self._stub.Heartbeat(
                request, timeout=self._call_timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                log.debug("heartbeat failed", extra={"code": exc.code().name})
                return
            log.warning("discovery does not know us; registering again")
            try:
                await self._register()
            except grpc.aio.AioRpcError as again:
                log.debug("re-registration failed", extra={"code": again.code().name})
                return
            self._watch_restart.set()  # discovery restarted: its versions start over
            return
        self.lease_ttl = response.lease_ttl_seconds or self.lease_ttl
        if self._lease_sent is None or sent > self._lease_sent:
            self._lease_sent = sent

    async def _watch_loop(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            self._watch_restart.clear()
            stream = self._stub.WatchPlacement(pb.WatchPlacementRequest(), metadata=self._metadata)
            restart = asyncio.create_task(self._watch_restart.wait())
            reader = asyncio.create_task(self._read(stream))
            try:
                done, _ = await asyncio.wait({reader, restart}, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    reader.result()
                    delay = BACKOFF_FIRST
                else:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
                    continue
            except grpc.aio.AioRpcError as exc:
                log.debug("placement watch broke", extra={"code": exc.code().name})
            finally:
                restart.cancel()
                reader.cancel()
                stream.cancel()
            await asyncio.sleep(delay)  # backoff before reconnecting
            delay = min(delay * 2, BACKOFF_MAX)

    async def _read(self, stream: Any) -> None:
        first = True
        async for placement in stream:
            self._deliver(placement, force=first)
            first = False

    def _deliver(self, placement: pb.Placement, *, force: bool) -> None:
        """Hand ``placement`` to the engine unless an equal or newer one was seen.

        ``force`` after (re)connecting: a restarted discovery counts versions from 1.
        """
        current = self.current_placement
        if not force and current is not None and placement.version <= current.version:
            return
        self.current_placement = placement
        self._placement_changed.set()
        try:
            self._on_placement(placement)
        except Exception:
            log.exception("on_placement failed", extra={"version": placement.version})
