"""Run an engine node: the gRPC server, health, reflection, metrics, ready file, shutdown.

``serve`` is the one way to run an engine, whether from ``python -m dome.engine``, from
``dome engine``/``dome up`` or from a test in-process: it returns when ``stop`` is set
(or on SIGINT/SIGTERM when it installs the handlers), after a graceful ``stop(grace)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import asdict

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from dome.accounts import AccountsFileError
from dome.cores import CoreError, select_core
from dome.engine import accounts_watch, answers
from dome.engine.config import ConfigError, EngineConfig, config_from_args
from dome.engine.health import engine_ready
from dome.engine.market_data import MarketDataServicer
from dome.engine.member import ClusterMember, RecoveredSymbol, recover_symbol
from dome.engine.metrics import EngineMetrics
from dome.engine.node import EngineNode, NodeLimits
from dome.engine.peer_port import ClientPortRefusesReplication, with_port
from dome.engine.raw_rpcs import add_trading_service
from dome.engine.replication_service import ReplicationServicer
from dome.engine.security import Gate, StreamSlots
from dome.engine.trading import TradingServicer
from dome.health import health_port
from dome.instrument_spec import InstrumentFileError
from dome.json_logs import configure as configure_logs
from dome.log.journal import FsyncPolicy
from dome.malformed import RefuseMalformed
from dome.peer_auth import RequirePeer
from dome.serving import ReadyInfo, announced, client_host, metrics_endpoint, stop_on_signals
from dome.tls_renewal import TlsSource, following
from dome.v1 import (
    market_data_pb2,
    market_data_pb2_grpc,
    replication_pb2,
    replication_pb2_grpc,
    trading_pb2,
)

#: grpc-core's queue of calls not yet picked up (its default is 1,000).
CORE_PENDING_CALLS = 1_000_000

log = logging.getLogger("dome.engine")

SERVICE_NAMES = (
    trading_pb2.DESCRIPTOR.services_by_name["TradingService"].full_name,
    market_data_pb2.DESCRIPTOR.services_by_name["MarketDataService"].full_name,
    replication_pb2.DESCRIPTOR.services_by_name["ReplicationService"].full_name,
)


#: Garbage-collector thresholds of an engine process (CPython's defaults: 700, 10, 10).
GC_THRESHOLDS = (100_000, 50, 100)


def tune_gc() -> None:
    """Make an engine process's cyclic garbage collector run far less often.

    Nearly every object an order makes lives across a few batches in flight, long enough
    to survive two young collections at the default thresholds, so it is promoted to
    the oldest generation; the idempotency window and the books keep growing it; and
    each full collection walks all of it. Measured with ``dome bench engine``: 16 full
    collections in 10 s costing 3.7 s of the engine's 10.5 s of CPU, up to 0.5 s each,
    which was the p99 latency. With a young generation of 100,000 objects almost
    everything dies young, freed by reference counting as before; cycles (rare here:
    the book and the market make none) are still collected, just in larger rounds.
    For processes only: in-process test servers keep the interpreter's defaults.
    """
    gc.set_threshold(*GC_THRESHOLDS)


async def serve_from_args(args: argparse.Namespace) -> None:
    """Configure logging from ``args`` (of ``add_engine_arguments``), then ``serve``.

    Exits with status 2 and a one-line message when a config file is unusable or
    ``DOME_CORE`` names a core that cannot run here.
    """
    configure_logs(args.log_level, engine=args.engine_id)
    tune_gc()
    try:
        config = config_from_args(args)
    except (InstrumentFileError, AccountsFileError, ConfigError, CoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    await serve(config)


async def serve(
    config: EngineConfig,
    ready: Callable[[ReadyInfo], None] | None = None,
    stop: asyncio.Event | None = None,
    *,
    handle_signals: bool = True,
) -> None:
    """Serve until ``stop`` is set or a SIGINT/SIGTERM arrives, then shut down gracefully."""
    stop = stop or asyncio.Event()
    core = config.core or select_core()
    log.info("engine starting", extra={"core": core.name})
    metrics = EngineMetrics(config.engine_id, core=core.name)
    tls = TlsSource(config.tls_dir) if config.tls_dir is not None else None
    recovered: dict[str, RecoveredSymbol] = {}
    if config.discovery is not None:
        assert config.data_dir is not None  # config_from_args insists
        for spec in config.instruments:
            recovered[spec.symbol] = recover_symbol(
                config.data_dir / spec.symbol,
                spec,
                core.market_factory,
                config.dedup_window,
                FsyncPolicy(config.fsync),
                config.segment_bytes,
            )
    node = EngineNode(
        config.instruments,
        metrics,
        limits=NodeLimits(dedup_window=config.dedup_window),
        market_factory=core.market_factory,
        markets={symbol: rec.market for symbol, rec in recovered.items()},
    )
    gate = Gate(
        config.accounts,
        rate=config.rate_limit,
        max_streams=config.max_streams_per_account,
        max_calls=config.max_calls,
    )
    member: ClusterMember | None = None
    if config.discovery is not None:
        member = ClusterMember(
            engine_id=config.engine_id,
            node=node,
            recovered=recovered,
            metrics=metrics,
            # Forwarding presents an account's own token; engines hold only its hash, so
            # the one its client authenticated with here (every forwarded order came in
            # over such a call).
            tokens=gate.presented_tokens,
            market_factory=core.market_factory,
            dedup_window=config.dedup_window,
            snapshot_every=config.snapshot_every,
            tls=tls,
            peer_auth=config.peer_auth,
        )
    options = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.so_reuseport", 0),
        # grpc-core queues calls the asyncio server has not picked up yet and, past
        # 1,000, sheds them with a bare CANCELLED the engine never hears of. Its
        # queue is made deep enough never to fill; the engine sheds at admission
        # instead, typed (``Gate.calls``: RESOURCE_EXHAUSTED, "retry with backoff").
        ("grpc.server.max_pending_requests", CORE_PENDING_CALLS),
        ("grpc.server.max_pending_requests_hard_limit", CORE_PENDING_CALLS),
    ]
    # Peer authentication first: a refused peer call reaches no parser or handler.
    interceptors: list[grpc.aio.ServerInterceptor] = [  # type: ignore[type-arg]
        RequirePeer(config.peer_auth),
        RefuseMalformed(),
    ]
    # With a peer port, replication has a server of its own there (same servicer), and
    # the client port refuses it, before even the peer check (dome.engine.peer_port).
    peer_server: grpc.aio.Server | None = None
    if member is not None and config.peer_port >= 0:
        peers = member.peers
        peer_server = grpc.aio.server(interceptors=list(interceptors), options=options)
        interceptors.insert(0, ClientPortRefusesReplication(lambda: bool(peers.without_peer_port)))
    server = grpc.aio.server(interceptors=interceptors, options=options)
    add_trading_service(TradingServicer(node, gate, metrics, answers.encoder(core.name)), server)
    market_data_pb2_grpc.add_MarketDataServiceServicer_to_server(
        MarketDataServicer(
            node,
            StreamSlots(config.max_public_streams),
            metrics,
            market_data_pb2.Limits(
                commands_per_second=config.rate_limit,
                command_burst=config.rate_limit,
                max_streams_per_account=config.max_streams_per_account,
                max_message_bytes=config.max_message_bytes,
                max_calls=config.max_calls,
                max_pending_per_account=NodeLimits().max_pending_per_account,
            ),
        ),
        server,
    )
    # grpc-stubs predate the asyncio health servicer, hence the ignore.
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    if member is not None:
        replication = ReplicationServicer(
            config.engine_id,
            member.replicas,
            member.snapshot_now,
            lambda symbol: node.symbols[symbol].market.state_hash(),
        )
        for serving in (server, peer_server):
            if serving is not None:
                replication_pb2_grpc.add_ReplicationServiceServicer_to_server(replication, serving)
    if peer_server is not None:
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, peer_server)
        reflection.enable_server_reflection(
            (SERVICE_NAMES[2], health.SERVICE_NAME, reflection.SERVICE_NAME), peer_server
        )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )

    def bind(serving: grpc.aio.Server, port: int) -> int:
        where = f"{config.host}:{port}"
        if tls is None:
            return serving.add_insecure_port(where)
        # One credentials object per port: each follows renewals on its own.
        return serving.add_secure_port(where, tls.server_credentials())

    port = bind(server, config.port)
    peer_port = bind(peer_server, config.peer_port) if peer_server is not None else None
    if config.data_dir is not None:
        config.data_dir.mkdir(parents=True, exist_ok=True)

    node.start()
    await server.start()
    if peer_server is not None:
        await peer_server.start()
    async with contextlib.AsyncExitStack() as around:
        around.callback(log.info, "engine stopped")  # last: after everything below
        metrics_url = around.enter_context(
            metrics_endpoint(metrics.registry, config.host, config.metrics_port)
        )
        # Up before joining: the startup and liveness probes ask only that the process
        # serves; readiness turns SERVING once every replica here is in sync.
        health_bound = await around.enter_async_context(
            health_port(
                config.host,
                config.health_port,
                lambda: not stop.is_set() and engine_ready(member),
            )
        )
        # Renewed certificates: new connections and new outbound channels use them.
        await around.enter_async_context(following(tls))
        if config.accounts_file is not None:
            await around.enter_async_context(
                accounts_watch.following(config.accounts_file, gate, config.accounts)
            )
        address = f"{client_host(config.host)}:{port}"
        advertise = config.advertise or address
        # Peers dial the advertised host at the peer port (on Kubernetes: the pod's DNS name).
        peer_address = "" if peer_port is None else with_port(advertise, peer_port)
        if member is not None and config.discovery is not None:
            await member.join(config.discovery, advertise, metrics_url, peer_address)
        for name in ("", *SERVICE_NAMES):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        around.enter_context(stop_on_signals(stop, handle_signals))
        info = ReadyInfo(
            "engine",
            config.engine_id,
            address,
            os.getpid(),
            metrics_url,
            core=core.name,
            health="" if health_bound is None else f"{client_host(config.host)}:{health_bound}",
            peer="" if peer_port is None else f"{client_host(config.host)}:{peer_port}",
        )
        log.info(
            "engine serving",
            extra={
                **asdict(info),
                "symbols": sorted(node.symbols),
                "accounts": len(config.accounts),
                "peer_auth": config.peer_auth.mode,
            },
        )
        if member is not None and not config.peer_auth.required:
            log.warning(
                "peer authentication is off (--peer-auth none): anything that reaches this "
                "port can follow these books and read every order"
            )
        around.enter_context(announced(config.ready_file, info))
        if ready is not None:
            ready(info)
        try:
            await stop.wait()
        finally:
            log.info("engine stopping", extra={"grace": config.grace})
            for name in ("", *SERVICE_NAMES):
                await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
            if member is not None:
                # Drain first, still serving and replicating: discovery hands each primary
                # here to an in-sync follower (no lease has to lapse), calls in flight fail
                # over to it; then stop heartbeating (whatever could not move fails over
                # by lease) while the remaining in-flight calls finish.
                await member.leave(config.drain_timeout)
            await asyncio.gather(
                *(s.stop(config.grace) for s in (server, peer_server) if s is not None)
            )
            await node.stop()
