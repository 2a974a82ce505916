"""Run discovery: gRPC with health and reflection, metrics, ready file, graceful stop.

Health has two levels on purpose: the overall service ("") is SERVING as soon as the
port listens, because engines must reach discovery to register before any placement
can exist (a readiness probe that waited for placement would keep discovery out of
its Kubernetes Service and deadlock the start); ``dome.v1.DiscoveryService`` turns
SERVING once the first placement is published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from kubernetes import client

from dome import kube
from dome.discovery.config_map import ConfigMapSource
from dome.discovery.core import CoreConfig
from dome.discovery.file_store import DEFAULT_NAME, FileStore
from dome.discovery.kube_store import KubernetesStore
from dome.discovery.leader import LeaderElector, LeaderTimings
from dome.discovery.metrics import DiscoveryMetrics
from dome.discovery.relay import DiscoveryRouter, LeaderChannel
from dome.discovery.replica import Deposed, DiscoveryReplica
from dome.discovery.runtime_config import ConfigFollower, Fetch
from dome.discovery.service import Discovery
from dome.discovery.servicer import DiscoveryServicer
from dome.discovery.store import PlacementStore, StoreError
from dome.health import health_port
from dome.malformed import RefuseMalformed
from dome.peer_auth import PeerAuth, RequirePeer
from dome.serving import ReadyInfo, announced, client_host, metrics_endpoint, stop_on_signals
from dome.tls_renewal import TlsSource, following
from dome.v1 import discovery_pb2, discovery_pb2_grpc

log = logging.getLogger("dome.discovery")

SERVICE_NAME = discovery_pb2.DESCRIPTOR.services_by_name["DiscoveryService"].full_name


@dataclass(frozen=True)
class DiscoverySettings:
    """Everything ``dome discovery`` is told on its command line."""

    core: CoreConfig
    host: str = "127.0.0.1"
    port: int = 0
    #: 0: any free port; -1: no metrics server.
    metrics_port: int = 0
    #: Plaintext port of the probes' health service (``dome.health``), whose readiness
    #: is "every symbol placed"; 0: any free port; -1: none.
    health_port: int = -1
    #: "file" or "kubernetes".
    store: str = "file"
    data_dir: Path = Path(".dome")
    lease_namespace: str = ""
    lease_prefix: str = "dome"
    #: The uid of the Exchange named ``lease_prefix``, which then owns the Leases.
    lease_owner_uid: str | None = None
    ready_file: Path | None = None
    #: A directory with tls.crt and tls.key (and ca.crt to verify client certificates).
    tls_dir: Path | None = None
    #: The exchange's peer secret, which engines' calls must carry (``dome.peer_auth``);
    #: the default has none and refuses every engine.
    peer_auth: PeerAuth = field(default_factory=PeerAuth)
    grace: float = 2.0
    tick_interval: float = 0.05
    #: A ConfigMap in ``lease_namespace`` to follow (``dome.discovery.runtime_config``):
    #: its document overrides ``core``'s symbols, replication factor, acks and engines
    #: expected, at start and whenever it changes. Empty: ``core`` as given, for good.
    config_map: str = ""
    #: The leader Lease in ``lease_namespace`` (``dome.discovery.replica``): replicas
    #: campaign for it and only its holder decides; the others relay to it. Empty: this
    #: is the only discovery (``dome up``, the file store) and decides from the start.
    leader_lease: str = ""
    #: This replica's name in the Lease (the pod name).
    identity: str = ""
    #: The host other replicas reach this one at (the pod IP); the port is ``port`` as
    #: bound. Written into the Lease while this replica leads.
    advertise_host: str = ""
    leader_timings: LeaderTimings = field(default_factory=LeaderTimings)
    #: The name the replicas' certificate holds (the Service's): a standby dials the
    #: leader by pod IP, which the certificate does not name. Empty: the address's host.
    tls_server_name: str = ""


def make_store(settings: DiscoverySettings) -> PlacementStore:
    if settings.store == "kubernetes":
        return KubernetesStore.in_cluster(
            settings.lease_namespace, settings.lease_prefix, owner_uid=settings.lease_owner_uid
        )
    return FileStore(settings.data_dir / DEFAULT_NAME)


def make_elector(
    settings: DiscoverySettings, port: int, api_client: client.ApiClient | None = None
) -> LeaderElector:
    """The candidate for ``settings.leader_lease``, advertising the bound ``port``;
    logged in with the pod's service account unless ``api_client`` is given."""
    if api_client is None:
        try:
            api_client = kube.api_client(kube.in_cluster_configuration())
        except kube.KubeConfigError as exc:
            raise StoreError(f"leader election: {exc}") from None
    return LeaderElector(
        settings.lease_namespace,
        settings.leader_lease,
        settings.identity,
        api_client,
        timings=settings.leader_timings,
        owner=None
        if settings.lease_owner_uid is None
        else (settings.lease_prefix, settings.lease_owner_uid),
        advertise=f"{client_host(settings.advertise_host)}:{port}",
    )


async def serve(
    settings: DiscoverySettings,
    ready: Callable[[ReadyInfo], None] | None = None,
    stop: asyncio.Event | None = None,
    *,
    store: PlacementStore | None = None,
    config_source: Fetch | None = None,
    handle_signals: bool = True,
    elector: Callable[[int], LeaderElector] | None = None,
) -> None:
    """Serve until ``stop`` is set or SIGINT/SIGTERM arrives, then shut down gracefully.

    With ``settings.leader_lease`` this is one replica of several
    (``dome.discovery.replica``): it raises ``Deposed``, after the same graceful
    shutdown, when it led and lost the Lease. ``config_source`` stands in for
    ``settings.config_map`` and ``elector`` (given the bound port) for
    ``make_elector`` (tests give their own).
    """
    stop = stop or asyncio.Event()
    metrics = DiscoveryMetrics()
    config_map: ConfigMapSource | None = None
    if config_source is None and settings.config_map:
        config_source = config_map = ConfigMapSource(settings.lease_namespace, settings.config_map)
    core = settings.core
    follower: ConfigFollower | None = None
    if config_source is not None:
        follower = ConfigFollower(config_source, on_refused=metrics.config_errors.inc)
        core = (await follower.first()).onto(core)
    metrics.declare_symbols(core.symbols)
    discovery = Discovery(
        core,
        store or make_store(settings),
        metrics,
        tick_interval=settings.tick_interval,
    )

    async def follow_config() -> None:
        if follower is not None:
            await follower.run(
                lambda runtime: discovery.reconfigure(runtime.onto(discovery.config))
            )

    server = grpc.aio.server(
        interceptors=[RequirePeer(settings.peer_auth), RefuseMalformed()],
        options=[("grpc.so_reuseport", 0)],
    )
    bind = f"{settings.host}:{settings.port}"
    # Renewed certificates (``dome.tls_renewal``) are served to new connections.
    tls = TlsSource(settings.tls_dir) if settings.tls_dir is not None else None
    if tls is not None:
        port = server.add_secure_port(bind, tls.server_credentials())
    else:
        port = server.add_insecure_port(bind)
    replica: DiscoveryReplica | None = None
    leader_channel: LeaderChannel | None = None
    tasks: set[asyncio.Task[None]] = set()
    if settings.leader_lease:
        replica = DiscoveryReplica(
            (elector or (lambda bound: make_elector(settings, bound)))(port),
            discovery,
            follow_config,
        )
        leader_channel = LeaderChannel(
            replica.leader_address,
            lambda: None if tls is None else tls.files,
            server_name=settings.tls_server_name,
        )
        server.add_generic_rpc_handlers((DiscoveryRouter(replica.local, leader_channel),))
    else:
        await discovery.start()
        tasks.add(asyncio.create_task(follow_config(), name="discovery-config"))
        discovery_pb2_grpc.add_DiscoveryServiceServicer_to_server(
            DiscoveryServicer(discovery), server
        )
    # grpc-stubs predate the asyncio health servicer, hence the ignore.
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)

    async def serving_once_placed() -> None:
        await discovery.placed.wait()
        await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)

    tasks.add(asyncio.create_task(serving_once_placed()))
    deposed: list[Deposed] = []

    async def lead(replica: DiscoveryReplica) -> None:
        try:
            await replica.run()
        except Deposed as exc:
            deposed.append(exc)
            stop.set()
        except Exception as exc:
            # The Lease or the store failed for good: exit, and be restarted as a candidate.
            log.exception("discovery replica failed")
            deposed.append(Deposed(str(exc)))
            stop.set()

    def is_ready() -> bool:
        if stop.is_set():
            return False
        return discovery.placed.is_set() if replica is None else replica.ready()

    async with contextlib.AsyncExitStack() as around:
        around.callback(log.info, "discovery stopped")  # last: after everything below
        metrics_url = around.enter_context(
            metrics_endpoint(metrics.registry, settings.host, settings.metrics_port)
        )
        health_bound = await around.enter_async_context(
            health_port(settings.host, settings.health_port, is_ready)
        )
        await around.enter_async_context(following(tls))
        around.enter_context(stop_on_signals(stop, handle_signals))
        address = f"{client_host(settings.host)}:{port}"
        health_address = (
            "" if health_bound is None else f"{client_host(settings.host)}:{health_bound}"
        )
        info = ReadyInfo(
            "discovery", "discovery", address, os.getpid(), metrics_url, health=health_address
        )
        log.info(
            "discovery serving",
            extra={
                "address": address,
                "metrics": metrics_url,
                "store": settings.store,
                "symbols": len(core.symbols),
                "replication_factor": core.replication_factor,
                "acks": core.acks.value,
                "config_map": settings.config_map,
                "peer_auth": settings.peer_auth.mode,
                "leader_lease": settings.leader_lease,
                "identity": settings.identity,
                "engine_lease_ttl": core.timings.lease_ttl,
            },
        )
        if not settings.peer_auth.required:
            log.warning(
                "peer authentication is off (--peer-auth none): anything that reaches this "
                "port can register engines and move primaries"
            )
        if replica is not None:
            tasks.add(asyncio.create_task(lead(replica), name="discovery-replica"))
        around.enter_context(announced(settings.ready_file, info))
        if ready is not None:
            ready(info)
        try:
            await stop.wait()
        finally:
            log.info("discovery stopping", extra={"grace": settings.grace})
            for task in tasks:
                task.cancel()
            # The replica's task stops deciding, then gives the Lease up (a standby
            # takes it at once instead of after its duration).
            await asyncio.wait(tasks)
            await health_servicer.enter_graceful_shutdown()
            discovery.close_watchers()
            await server.stop(settings.grace)
            if replica is None:
                await discovery.stop()
            if leader_channel is not None:
                await leader_channel.close()
            if config_map is not None:
                await config_map.close()
    if deposed:
        raise deposed[0]
