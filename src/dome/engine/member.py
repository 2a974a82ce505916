"""An engine as a member of a replicated cluster: recovery, replicas, discovery, peers.

``serve`` builds a ``ClusterMember`` when the engine is given ``--discovery``. Start-up
order matters and is kept here:

1. Recover every symbol from its directory: the newest snapshot, then the journal.
   Only batches known committed (by the commit marks batches carry) are applied; the
   tail stays pending until the symbol's primary confirms it or this engine is promoted.
   Replayed batches then go through the normal publish stage, so execution-report
   chains and market data continue exactly where they stopped.
2. Serve gRPC (trading, market data, replication) before registering, so a peer that
   learns about this engine can reach it at once.
3. Register with discovery, heartbeat, and carry out each placement it publishes.

Leaving is the reverse, and graceful: drain first (discovery hands every primary this
engine holds to an in-sync follower by planned election while it goes on serving and
replicating; its replicas step down on the new epoch like any old primary), then stop
heartbeating, then stop replicating.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from dome.core.market import MarketResult
from dome.cores import MarketCore, MarketFactory
from dome.discovery.agent import DiscoveryAgent
from dome.engine.forwarding import Forwarder
from dome.engine.metrics import EngineMetrics
from dome.engine.node import EngineNode, SymbolState
from dome.engine.peers import Peers
from dome.engine.replica import Replica, Role
from dome.instrument_spec import InstrumentSpec
from dome.log.entries import DecodedBatch
from dome.log.install import install_snapshot
from dome.log.journal import FsyncPolicy, Journal
from dome.log.recovery import recover
from dome.log.snapshot import decode_snapshot, encode_snapshot
from dome.log.snapshot_store import SnapshotStore
from dome.peer_auth import PeerAuth
from dome.tls_renewal import TlsSource
from dome.v1 import discovery_pb2 as ds

log = logging.getLogger("dome.engine.member")


class RecoveredSymbol(NamedTuple):
    """One symbol read back from disk, before the node exists."""

    #: The market as of the last committed batch in the journal.
    market: MarketCore
    journal: Journal
    snapshots: SnapshotStore
    #: What the engine stored next to the snapshot (its report chains).
    extra: dict[str, Any]
    #: Batches replayed on top of the snapshot, with what they did, to publish.
    replayed: list[tuple[DecodedBatch, list[MarketResult]]]
    #: Journaled batches beyond the commit watermark: not applied.
    pending: list[DecodedBatch]


def recover_symbol(
    directory: Path,
    spec: InstrumentSpec,
    market_factory: MarketFactory,
    dedup_window: int,
    fsync: FsyncPolicy,
    segment_bytes: int,
) -> RecoveredSymbol:
    """Snapshot plus committed journal of one symbol (``dome.log.recovery.recover``)."""
    directory.mkdir(parents=True, exist_ok=True)
    replayed: list[tuple[DecodedBatch, list[MarketResult]]] = []
    rec = recover(
        directory / "journal",
        spec.to_core(),
        market_factory,
        dedup_window,
        fsync,
        on_batch=lambda batch, results: replayed.append((batch, results)),
        snapshot_dir=directory / "snapshots",
        segment_bytes=segment_bytes,
    )
    log.info(
        "symbol recovered",
        extra={
            "symbol": spec.symbol,
            "snapshot_seq": rec.snapshot_seq,
            "replayed": sum(len(b.commands) for b, _ in replayed),
            "pending": sum(len(b.commands) for b in rec.pending),
            "journaled_seq": rec.journal.last_seq,
        },
    )
    return RecoveredSymbol(
        rec.market, rec.journal, rec.snapshots, dict(rec.extra), replayed, list(rec.pending)
    )


class ClusterMember:
    """Replicas of every symbol, the discovery agent, peers and forwarding of one engine."""

    def __init__(
        self,
        *,
        engine_id: str,
        node: EngineNode,
        recovered: dict[str, RecoveredSymbol],
        metrics: EngineMetrics,
        tokens: dict[str, str],
        market_factory: MarketFactory,
        dedup_window: int,
        snapshot_every: int,
        tls: TlsSource | None,
        peer_auth: PeerAuth,
    ) -> None:
        self.engine_id = engine_id
        self.node = node
        self.peers = Peers(tls, peer_auth.metadata)
        self._tls = tls
        self._market_factory = market_factory
        self._dedup_window = dedup_window
        self._snapshot_every = snapshot_every
        self._snapshots: dict[str, SnapshotStore] = {}
        self._snapshot_seq: dict[str, int] = {}
        self.agent: DiscoveryAgent | None = None
        self.replicas: dict[str, Replica] = {}
        node.forwarder = Forwarder(self.peers, tokens)
        for symbol, rec in recovered.items():
            state = node.symbols[symbol]
            if rec.extra.get("reports"):
                state.reporter.restore(rec.extra["reports"])
            for batch, results in rec.replayed:
                state.applier.publish_replayed(batch.commands, results)
            self._snapshots[symbol] = rec.snapshots
            latest = rec.snapshots.latest()
            self._snapshot_seq[symbol] = latest[0] if latest else 0
            replica = Replica(
                engine_id=engine_id,
                symbol=symbol,
                journal=rec.journal,
                applier=state.applier,
                coordinator=self,
                peers=self.peers,
                pending=rec.pending,
                stats=metrics.for_replica(symbol),
                on_snapshot_due=self._snapshot_check(symbol),
                install_snapshot=self._installer(symbol),
            )
            state.replica = replica
            state.sequencer.attach_log(replica)
            self.replicas[symbol] = replica

    # ------------------------------------------------------------ the coordinator

    def lease_valid(self) -> bool:
        """Whether discovery certainly still counts this engine alive."""
        return self.agent is not None and self.agent.lease_valid()

    def poke(self) -> None:
        """Heartbeat now (a placement changed: discovery waits for our reports)."""
        if self.agent is not None:
            self.agent.poke()

    async def update_in_sync(self, symbol: str, epoch: int, in_sync: list[str]) -> bool:
        """Ask discovery to record a symbol's new in-sync set."""
        if self.agent is None:
            return False
        return await self.agent.update_in_sync(symbol, epoch, in_sync)

    # ------------------------------------------------------------------ lifecycle

    async def join(
        self, discovery: str, advertise: str, metrics_url: str, peer_address: str = ""
    ) -> None:
        """Register with discovery and start following its placement.

        ``peer_address``: where this engine serves replication (empty: at ``advertise``).
        """
        self.agent = DiscoveryAgent(
            discovery,
            self.engine_id,
            advertise,
            metrics_url,
            reports=self.reports,
            on_placement=self.on_placement,
            tls=self._tls,
            metadata=self.peers.metadata,
            peer_address=peer_address,
        )
        await self.agent.start()

    def leading(self) -> list[str]:
        """Symbols this engine is the primary of right now."""
        return sorted(s for s, r in self.replicas.items() if r.role is Role.PRIMARY)

    async def drain(self, within: float) -> bool:
        """Have discovery move this engine's primaries elsewhere; True once it leads none.

        Everything keeps running meanwhile: each replica steps down when its symbol's new
        epoch arrives (calls in flight fail with FAILED_PRECONDITION, later ones get
        UNAVAILABLE or are forwarded, and clients retry at the new primary), then follows.
        """
        if self.agent is None:
            return True
        started = asyncio.get_running_loop().time()
        log.info("draining", extra={"leading": self.leading(), "within": within})
        drained = await self.agent.drain(within)
        log.info(
            "drained" if drained else "drain incomplete",
            extra={
                "leading": self.leading(),
                "seconds": round(asyncio.get_running_loop().time() - started, 3),
            },
        )
        return drained

    async def leave(self, drain_timeout: float = 0.0) -> None:
        """Drain (when ``drain_timeout`` > 0), stop heartbeating, then stop replicating.

        Whatever this engine still leads after the drain fails over once its lease lapses.
        """
        if drain_timeout > 0:
            await self.drain(drain_timeout)
        if self.agent is not None:
            log.info("leaving the cluster", extra={"leading": self.leading()})
            await self.agent.stop()
        await asyncio.gather(*(r.close() for r in self.replicas.values()))
        for replica in self.replicas.values():
            replica.journal.close()
        await self.peers.close()

    def reports(self) -> list[ds.ReplicaReport]:
        """One report per symbol, for heartbeats."""
        return [replica.report() for replica in self.replicas.values()]

    def on_placement(self, placement: ds.Placement) -> None:
        """Carry out a placement: addresses first, then each symbol's role."""
        self.peers.update(
            {e.engine_id: e.address for e in placement.engines if e.address},
            {e.engine_id: e.peer_address for e in placement.engines if e.peer_address},
            frozenset(e.engine_id for e in placement.engines if e.alive and not e.peer_address),
        )
        for sp in placement.symbols:
            replica = self.replicas.get(sp.symbol)
            if replica is not None:
                replica.on_placement(sp, placement.acks)

    # ------------------------------------------------------------------ snapshots

    def snapshot_now(self, symbol: str) -> tuple[int, int, bytes]:
        """Encode the symbol's applied state: (seq, epoch of the last entry, bytes)."""
        state = self.node.symbols[symbol]
        replica = self.replicas[symbol]
        epoch = replica.journal.last_epoch if replica.journal.last_seq else replica.epoch
        data = encode_snapshot(
            state.market,
            epoch,
            replica.journal.epochs(),
            {"reports": state.reporter.state()},
        )
        return state.market.last_seq, epoch, data

    def _snapshot_check(self, symbol: str) -> Callable[[], None]:
        def check() -> None:
            market = self.node.symbols[symbol].market
            if market.last_seq - self._snapshot_seq[symbol] < self._snapshot_every:
                return
            seq, epoch, data = self.snapshot_now(symbol)
            try:
                self._snapshots[symbol].save(data, seq, epoch)
            except OSError as exc:
                # A snapshot only saves replay time and disk: failing to write one (a full
                # disk) must never fail the committed batch this check runs after. Try
                # again a tenth of the interval later; the journal keeps everything.
                retry = max(1, self._snapshot_every // 10)
                self._snapshot_seq[symbol] = seq - self._snapshot_every + retry
                log.error(
                    "snapshot not written; the journal is kept whole",
                    extra={"symbol": symbol, "seq": seq, "error": str(exc), "retry_in": retry},
                )
                return
            self._snapshot_seq[symbol] = seq
            # Up to the older kept snapshot: if the newest turns out unreadable, recovery
            # falls back to the older one and still finds every entry after it.
            self.replicas[symbol].journal.compact(self._snapshots[symbol].oldest_seq() or 0)
            log.info("snapshot taken", extra={"symbol": symbol, "seq": seq, "bytes": len(data)})

        return check

    def _installer(self, symbol: str) -> Callable[[bytes], None]:
        def install(data: bytes) -> None:
            state: SymbolState = self.node.symbols[symbol]
            restored = decode_snapshot(
                data, state.spec.to_core(), self._market_factory, self._dedup_window
            )
            # Durable first, in the order that survives a crash at any step (see
            # dome.log.install), then in memory.
            install_snapshot(
                self.replicas[symbol].journal,
                self._snapshots[symbol],
                data,
                restored.seq,
                restored.epoch,
                restored.epochs,
            )
            self.node.replace_market(symbol, restored.market, dict(restored.extra))
            self._snapshot_seq[symbol] = restored.seq
            log.warning(
                "symbol resynchronised from a snapshot",
                extra={"symbol": symbol, "seq": restored.seq},
            )

        return install
