"""``dome discovery``: run the discovery service (engine leases, placement, failover).

Parses and checks the command line (a bad flag exits 2 with one line), then hands a
``DiscoverySettings`` to ``dome.discovery.server.serve``. The Kubernetes operator
renders exactly these flags (``dome_operator.commands.discovery_args``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dome.cli_commands.common import DEFAULT_DIR


def register(sub: Any) -> None:
    """Add ``dome discovery`` to the ``dome`` parser."""
    p = sub.add_parser(
        "discovery",
        help="run the discovery service (engine registry, placement, failover)",
        description="Run the discovery service: engines register and heartbeat here; it "
        "places symbols on them, runs failover elections and tells clients where to go. "
        "Engines' calls (RegisterEngine, Heartbeat, DrainEngine, UpdateInSync) must carry "
        "the exchange's peer secret (--peer-secret-file); placement reads (GetPlacement, "
        "WatchPlacement, ListEngines, AssignClient) are open to clients.",
    )
    add_discovery_arguments(p)
    p.set_defaults(func=lambda args: run(args, p))


def add_discovery_arguments(p: argparse.ArgumentParser) -> None:
    from dome.discovery.core import Timings
    from dome.peer_auth import add_peer_auth_arguments

    t = Timings()
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=0, help="gRPC port (0: any free; see --ready-file)")
    p.add_argument("--metrics-port", type=int, default=0, help="metrics port (0: any, -1: off)")
    p.add_argument(
        "--health-port",
        type=int,
        default=-1,
        help="plaintext gRPC health port for probes, even with --tls-dir; its readiness "
        "is 'every symbol placed' (0: any, -1: off, the default)",
    )
    p.add_argument(
        "--store",
        choices=["file", "kubernetes"],
        default="file",
        help="where epochs are kept (default %(default)s)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DIR,
        help="directory of the file store (default %(default)s)",
    )
    p.add_argument("--lease-namespace", help="namespace of the Leases (--store kubernetes)")
    p.add_argument("--lease-prefix", default="dome", help="Lease name prefix (default: dome)")
    p.add_argument(
        "--lease-owner-uid",
        help="uid of the Exchange named --lease-prefix: its Leases get an owner reference "
        "to it, so Kubernetes deletes them with it (--store kubernetes)",
    )
    p.add_argument(
        "--config-map",
        default="",
        help="follow this ConfigMap in --lease-namespace (key discovery.json: enginesExpected, "
        "replicationFactor, acks, symbols) instead of --engines-expected, "
        "--replication-factor, --acks and --instruments, at start and while running "
        "(--store kubernetes)",
    )
    p.add_argument(
        "--leader-lease",
        default="",
        help="run as one of several replicas: campaign for this Lease in --lease-namespace, "
        "decide only while holding it, relay every call to its holder meanwhile, and exit "
        "1 when it is lost (--store kubernetes; default: the only discovery)",
    )
    p.add_argument(
        "--identity", default="", help="this replica's name in the leader Lease (the pod name)"
    )
    p.add_argument(
        "--advertise-host",
        default="",
        help="the host other replicas reach this one at (the pod IP); the port is --port "
        "as bound (--leader-lease)",
    )
    p.add_argument(
        "--tls-server-name",
        default="",
        help="the name in the replicas' certificate, checked when a standby dials the "
        "leader by IP (--leader-lease with --tls-dir)",
    )
    p.add_argument(
        "--engines-expected",
        type=int,
        default=1,
        help="engines to wait for before the first placement (default: 1)",
    )
    p.add_argument(
        "--replication-factor",
        type=int,
        default=3,
        help="replicas per symbol, primary included (default: 3)",
    )
    p.add_argument(
        "--acks",
        choices=["all", "majority"],
        default="all",
        help="acknowledgement mode the engines use (default: all)",
    )
    p.add_argument("--instruments", type=Path, help="instruments JSON file (default: built-in)")
    p.add_argument(
        "--lease-ttl",
        type=float,
        default=None,
        help=f"engine lease (write grant) length in seconds (default {t.lease_ttl:g}; with "
        "--leader-lease, long enough to outlast a leader handover: "
        "dome.discovery.handover)",
    )
    p.add_argument(
        "--lease-grace",
        type=float,
        default=t.grace,
        help="extra seconds until a silent engine is dead (default %(default)s)",
    )
    p.add_argument(
        "--heartbeat-interval",
        type=float,
        default=t.heartbeat_interval,
        help="seconds between engine heartbeats (default %(default)s)",
    )
    p.add_argument(
        "--election-timeout",
        type=float,
        default=t.election_timeout,
        help="seconds an election waits for slow replicas (default %(default)s)",
    )
    p.add_argument(
        "--startup-grace",
        type=float,
        default=t.startup_grace,
        help="seconds to wait for --engines-expected (default %(default)s)",
    )
    p.add_argument("--tls-dir", type=Path, help="serve TLS from tls.crt/tls.key (ca.crt: mTLS)")
    add_peer_auth_arguments(
        p,
        guarded="discovery requires it on RegisterEngine, Heartbeat, DrainEngine and "
        "UpdateInSync (GetPlacement, WatchPlacement, ListEngines and AssignClient stay "
        "open: clients route by them)",
    )
    p.add_argument("--ready-file", type=Path, help="write JSON here once serving")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def settings_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Any:
    """A ``DiscoverySettings``, or ``parser.error`` (exit 2) naming what is wrong."""
    from dome.discovery.core import CoreConfig, Timings
    from dome.discovery.handover import HandoverTimingsError, check_handover, handover_timings
    from dome.discovery.leader import LeaderTimings
    from dome.discovery.records import Acks
    from dome.discovery.server import DiscoverySettings
    from dome.instrument_spec import DEFAULT_INSTRUMENTS, InstrumentFileError, load_instruments
    from dome.peer_auth import PeerAuthError, peer_auth_from_args

    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, not {args.port}")
    if not -1 <= args.metrics_port <= 65535:
        parser.error(f"--metrics-port must be -1..65535, not {args.metrics_port}")
    if not -1 <= args.health_port <= 65535:
        parser.error(f"--health-port must be -1..65535, not {args.health_port}")
    if args.engines_expected < 1:
        parser.error("--engines-expected must be at least 1")
    if args.replication_factor < 1:
        parser.error("--replication-factor must be at least 1")
    lease_ttl = Timings().lease_ttl if args.lease_ttl is None else args.lease_ttl
    if lease_ttl <= 0 or args.heartbeat_interval <= 0:
        parser.error("--lease-ttl and --heartbeat-interval must be positive")
    if args.heartbeat_interval * 2 > lease_ttl:
        parser.error("--heartbeat-interval must be at most half of --lease-ttl")
    if args.lease_grace < 0 or args.election_timeout < 0 or args.startup_grace < 0:
        parser.error("--lease-grace, --election-timeout and --startup-grace must be >= 0")
    if args.store == "kubernetes" and not args.lease_namespace:
        parser.error("--store kubernetes needs --lease-namespace")
    if args.config_map and args.store != "kubernetes":
        parser.error("--config-map needs --store kubernetes")
    if args.leader_lease and args.store != "kubernetes":
        parser.error("--leader-lease needs --store kubernetes")
    if args.leader_lease and not (args.identity and args.advertise_host):
        parser.error("--leader-lease needs --identity and --advertise-host")
    if args.tls_dir is not None and not (args.tls_dir / "tls.crt").is_file():
        parser.error(f"--tls-dir {args.tls_dir} holds no tls.crt")
    try:
        peer_auth = peer_auth_from_args(args, needed=True)
    except PeerAuthError as exc:
        parser.error(str(exc))
    if args.instruments is not None:
        try:
            symbols = tuple(sorted(load_instruments(args.instruments)))
        except InstrumentFileError as exc:
            parser.error(str(exc))
    else:
        symbols = tuple(sorted(spec.symbol for spec in DEFAULT_INSTRUMENTS))
    timings = Timings(
        lease_ttl=lease_ttl,
        heartbeat_interval=args.heartbeat_interval,
        grace=args.lease_grace,
        election_timeout=args.election_timeout,
        startup_grace=args.startup_grace,
    )
    leader = LeaderTimings()
    if args.leader_lease:
        # Engines must write through a handover on the grant they hold.
        try:
            if args.lease_ttl is None:
                timings = handover_timings(leader, timings)
            else:
                check_handover(timings, leader)
        except HandoverTimingsError as exc:
            parser.error(f"--lease-ttl: {exc}")
    core = CoreConfig(
        symbols, args.replication_factor, Acks(args.acks), args.engines_expected, timings
    )
    return DiscoverySettings(
        core=core,
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        store=args.store,
        data_dir=args.data_dir,
        lease_namespace=args.lease_namespace or "",
        lease_prefix=args.lease_prefix,
        lease_owner_uid=args.lease_owner_uid or None,
        ready_file=args.ready_file,
        tls_dir=args.tls_dir,
        peer_auth=peer_auth,
        config_map=args.config_map,
        leader_lease=args.leader_lease,
        identity=args.identity,
        advertise_host=args.advertise_host,
        leader_timings=leader,
        tls_server_name=args.tls_server_name,
    )


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Serve until SIGINT/SIGTERM; 1 when the store cannot be used or, as one of several
    replicas, the leader Lease was lost (the kubelet restarts it as a candidate)."""
    import asyncio

    from dome.cli_commands.common import fail
    from dome.discovery.replica import Deposed
    from dome.discovery.runtime_config import RuntimeConfigError
    from dome.discovery.server import serve
    from dome.discovery.store import StoreError
    from dome.json_logs import configure

    settings = settings_from_args(args, parser)
    configure(args.log_level, role="discovery")
    try:
        asyncio.run(serve(settings))
    except StoreError as exc:
        return fail(f"discovery store: {exc}", 1)
    except RuntimeConfigError as exc:
        return fail(f"discovery configuration: {exc}", 1)
    except Deposed as exc:
        return fail(f"discovery stopped deciding: {exc}; restart as a candidate", 1)
    return 0
