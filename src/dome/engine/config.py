"""How an engine is configured: one dataclass, and the command-line options that fill it.

``dome engine`` and ``dome up`` (in ``dome.cli``) reuse ``add_engine_arguments`` and
``config_from_args`` so the options are spelled one way everywhere.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from dome.accounts import load_accounts
from dome.cores import SELECTION_HELP, Core, select_core
from dome.instrument_spec import DEFAULT_INSTRUMENTS, InstrumentSpec, load_instruments
from dome.peer_auth import PeerAuth, PeerAuthError, add_peer_auth_arguments, peer_auth_from_args

MiB = 1024 * 1024


class ConfigError(ValueError):
    """Engine options that do not fit together."""


@dataclass(frozen=True)
class EngineConfig:
    """Everything ``serve`` needs; defaults suit a laptop."""

    engine_id: str = "engine-0"
    host: str = "127.0.0.1"
    #: gRPC port; 0 picks a free one (the ready file and callback say which).
    port: int = 0
    #: Prometheus port; 0 picks a free one, -1 serves no metrics.
    metrics_port: int = 0
    #: Port of replication (``dome.engine.peer_port``), for the exchange's engines only;
    #: 0 picks a free one, -1 (the default) serves replication on ``port``.
    peer_port: int = -1
    #: Plaintext port of the probes' health service (``dome.health``); 0 picks a free
    #: one, -1 (the default) serves none.
    health_port: int = -1
    instruments: tuple[InstrumentSpec, ...] = DEFAULT_INSTRUMENTS
    #: account name -> bearer token.
    accounts: dict[str, str] = field(default_factory=dict)
    #: Where ``accounts`` came from; the engine follows its changes while it runs.
    accounts_file: Path | None = None
    #: Journals and snapshots, one directory per symbol (needed with ``discovery``).
    data_dir: Path | None = None
    #: host:port of the discovery service; None runs a standalone engine (no log).
    discovery: str | None = None
    #: host:port other engines and clients dial for this one (default: the bound one).
    advertise: str | None = None
    #: Directory with tls.crt, tls.key and ca.crt: TLS (mutual with ca.crt) on every hop.
    tls_dir: Path | None = None
    #: The exchange's peer secret: sent to discovery and to primaries, required from
    #: followers (``dome.peer_auth``). The default has none: every peer call is refused.
    peer_auth: PeerAuth = field(default_factory=PeerAuth)
    #: When journal writes reach the disk: always, batch (group commit) or none.
    fsync: str = "batch"
    #: Entries between snapshots of a symbol.
    snapshot_every: int = 50_000
    #: Journal segment size: compaction after a snapshot deletes whole segments.
    segment_bytes: int = 64 * MiB
    #: Written atomically once serving: role, id, address, pid, metrics URL.
    ready_file: Path | None = None
    log_level: str = "info"
    #: Commands per second per account (token bucket; a second's worth may burst).
    rate_limit: float = 50_000.0
    #: Open streams per account (SubmitOrders and StreamExecutions together).
    max_streams_per_account: int = 16
    #: Open market-data streams in total.
    max_public_streams: int = 1_024
    #: Largest request message; bigger ones fail with RESOURCE_EXHAUSTED.
    max_message_bytes: int = 1 * MiB
    #: Calls the engine holds at once, waiting in gRPC or being served; beyond, it sheds
    #: them with RESOURCE_EXHAUSTED (grpc-core's own queue of 1,000 would shed them with
    #: a bare CANCELLED that no client can tell from a dropped connection).
    max_calls: int = 20_000
    #: Client order ids remembered per symbol for idempotent retries.
    dedup_window: int = 100_000
    #: Seconds in-flight calls get to finish on shutdown.
    grace: float = 5.0
    #: Seconds a stopping cluster engine waits for discovery to hand its primaries to
    #: in-sync followers before it stops heartbeating (0: no drain, fail over by lease).
    drain_timeout: float = 5.0
    #: The book core; None takes the one ``DOME_CORE`` selects (``dome.cores``) at start.
    core: Core | None = None


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the engine's options to ``parser``, and how its book core is chosen to its help."""
    d = EngineConfig()
    # The core is no option: it is the environment's (engines that `dome up` starts
    # inherit it), so the help says how that works instead.
    parser.epilog = SELECTION_HELP
    parser.add_argument("--id", dest="engine_id", default=d.engine_id, help="engine id")
    parser.add_argument("--host", default=d.host, help="address to listen on")
    parser.add_argument("--port", type=int, default=d.port, help="gRPC port (0: any free)")
    parser.add_argument(
        "--peer-port",
        type=int,
        default=d.peer_port,
        help="serve replication (Replicate, FetchLog, FetchSnapshot) on this port, for the "
        "other engines of the exchange, and no longer on --port, where a call gets "
        "UNIMPLEMENTED; registered with discovery as --advertise's host with this port. "
        "0: any free; -1 (default): replication on --port. Needs --discovery",
    )
    parser.add_argument(
        "--metrics-port", type=int, default=d.metrics_port, help="metrics port (0: any, -1: off)"
    )
    parser.add_argument(
        "--health-port",
        type=int,
        default=d.health_port,
        help="plaintext gRPC health port for probes, even with --tls-dir (0: any, -1: off)",
    )
    parser.add_argument(
        "--instruments", type=Path, help="instruments JSON file (default: built-in)"
    )
    parser.add_argument(
        "--accounts",
        type=Path,
        help='accounts JSON file: {"alice": "sha256:<hex of its token>", ...} '
        "(dome accounts hash; tokens in clear still work, with a warning); re-read when it "
        "changes, so tokens rotate without a restart (default: none)",
    )
    parser.add_argument("--data-dir", type=Path, help="data directory (journals, snapshots)")
    parser.add_argument(
        "--discovery", help="discovery host:port: join a replicated cluster (needs --data-dir)"
    )
    parser.add_argument("--advertise", help="host:port peers and clients dial for this engine")
    parser.add_argument(
        "--tls-dir", type=Path, help="TLS files (tls.crt, tls.key, ca.crt for mutual TLS)"
    )
    add_peer_auth_arguments(
        parser,
        guarded="this engine sends it to discovery and to the primaries it follows, and "
        "requires it on ReplicationService's Replicate, FetchLog and FetchSnapshot "
        "(GetReplicaStatus stays readable, for `dome check`)",
        needed=" with --discovery",
    )
    parser.add_argument(
        "--fsync",
        default=d.fsync,
        choices=["always", "batch", "none"],
        help="journal durability: fsync every write, group commit (default), or never",
    )
    parser.add_argument(
        "--snapshot-every", type=int, default=d.snapshot_every, help="entries between snapshots"
    )
    parser.add_argument(
        "--segment-bytes",
        type=int,
        default=d.segment_bytes,
        help="journal segment size (compaction deletes whole segments)",
    )
    parser.add_argument("--ready-file", type=Path, help="write JSON here once serving")
    parser.add_argument(
        "--log-level", default=d.log_level, choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--rate-limit", type=float, default=d.rate_limit, help="commands/s per account"
    )
    parser.add_argument(
        "--max-streams",
        type=int,
        default=d.max_streams_per_account,
        help="open streams per account",
    )
    parser.add_argument(
        "--max-message-bytes", type=int, default=d.max_message_bytes, help="largest request"
    )
    parser.add_argument(
        "--max-calls",
        type=int,
        default=d.max_calls,
        help="calls held at once (waiting or served); beyond, RESOURCE_EXHAUSTED",
    )
    parser.add_argument(
        "--dedup-window", type=int, default=d.dedup_window, help="client order ids remembered"
    )
    parser.add_argument("--grace", type=float, default=d.grace, help="shutdown grace, seconds")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=d.drain_timeout,
        help="on shutdown, seconds to wait for this engine's primaries to move (0: no drain)",
    )


def config_from_args(args: argparse.Namespace) -> EngineConfig:
    """Build the config, reading the instruments and accounts files.

    Raises ``InstrumentFileError`` or ``AccountsFileError`` with a readable message,
    ``ConfigError`` for options that do not fit together, and ``dome.cores.CoreError``
    when ``DOME_CORE`` names a core that cannot run here.
    """
    if args.discovery and args.data_dir is None:
        raise ConfigError("--discovery needs --data-dir: a replica journals every entry")
    if args.snapshot_every < 1:
        raise ConfigError("--snapshot-every must be at least 1")
    if args.segment_bytes < 4096:
        raise ConfigError("--segment-bytes must be at least 4096")
    if args.drain_timeout < 0:
        raise ConfigError("--drain-timeout must be at least 0")
    if not -1 <= args.health_port <= 65535:
        raise ConfigError(f"--health-port must be -1..65535, not {args.health_port}")
    if not -1 <= args.peer_port <= 65535:
        raise ConfigError(f"--peer-port must be -1..65535, not {args.peer_port}")
    if args.peer_port >= 0 and not args.discovery:
        raise ConfigError("--peer-port needs --discovery: a standalone engine replicates nothing")
    try:
        # A standalone engine makes and serves no peer call: it needs no secret.
        peer_auth = peer_auth_from_args(args, needed=bool(args.discovery))
    except PeerAuthError as exc:
        raise ConfigError(str(exc)) from None
    instruments = (
        tuple(load_instruments(args.instruments).values())
        if args.instruments
        else DEFAULT_INSTRUMENTS
    )
    return EngineConfig(
        engine_id=args.engine_id,
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        peer_port=args.peer_port,
        instruments=instruments,
        accounts=load_accounts(args.accounts) if args.accounts else {},
        accounts_file=Path(args.accounts) if args.accounts else None,
        data_dir=args.data_dir,
        discovery=args.discovery,
        advertise=args.advertise,
        tls_dir=args.tls_dir,
        peer_auth=peer_auth,
        fsync=args.fsync,
        snapshot_every=args.snapshot_every,
        segment_bytes=args.segment_bytes,
        ready_file=args.ready_file,
        log_level=args.log_level,
        rate_limit=args.rate_limit,
        max_streams_per_account=args.max_streams,
        max_message_bytes=args.max_message_bytes,
        max_calls=args.max_calls,
        dedup_window=args.dedup_window,
        grace=args.grace,
        drain_timeout=args.drain_timeout,
        core=select_core(),
    )
