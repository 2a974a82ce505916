"""Prometheus metrics of one engine, in a registry of its own.

A registry per engine (not the process-global default) lets tests run several engines
in one process and keeps each engine's numbers apart. Labels stay bounded: symbol, and
small closed enums (order type, outcome, reject reason, side); never an order id or an
account. Children are resolved once per symbol, off the hot path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from dome.core.types import RejectReason

_LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


@dataclass
class SymbolMetrics:
    """The children of one symbol, bound on first use so the hot path skips label lookups.

    Children are created lazily so a symbol's page lists only outcomes that happened.
    """

    symbol: str
    parent: EngineMetrics
    trades: Any
    duplicates: Any
    match_seconds: Any
    batch_size: Any
    sequence: Any
    bid_levels: Any
    ask_levels: Any
    _orders: dict[tuple[str, str], Any] = field(default_factory=dict)
    _rejects: dict[RejectReason, Any] = field(default_factory=dict)

    def order(self, kind: str, outcome: str) -> Any:
        """The ``dome_orders_total`` child of one command type and outcome."""
        child = self._orders.get((kind, outcome))
        if child is None:
            child = self._orders[kind, outcome] = self.parent.orders.labels(
                self.symbol, kind, outcome
            )
        return child

    def reject(self, reason: RejectReason) -> Any:
        """The ``dome_rejects_total`` child of one reason."""
        child = self._rejects.get(reason)
        if child is None:
            child = self._rejects[reason] = self.parent.rejects.labels(
                self.symbol, reason.name.lower()
            )
        return child


def dome_version() -> str:
    """The installed ``dome`` package's version ("unknown" when run from a bare tree)."""
    try:
        return metadata.version("dome")
    except metadata.PackageNotFoundError:
        return "unknown"


class EngineMetrics:
    """Every metric the engine exports; ``core`` is the book core it runs (``dome.cores``)."""

    def __init__(self, engine_id: str, role: str = "engine", *, core: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.info = Gauge(
            "dome_engine_info", "Always 1; names this engine.", ["engine", "role"], registry=r
        )
        self.info.labels(engine_id, role).set(1)
        self.build_info = Gauge(
            "dome_build_info",
            "Always 1; the DOME version and the book core (native or python) this engine runs.",
            ["version", "core"],
            registry=r,
        )
        self.build_info.labels(dome_version(), core).set(1)
        self.orders = Counter(
            "dome_orders_total",
            "Commands applied, by order type (or cancel/amend) and outcome status.",
            ["symbol", "type", "outcome"],
            registry=r,
        )
        self.rejects = Counter(
            "dome_rejects_total", "Rejected commands by reason.", ["symbol", "reason"], registry=r
        )
        self.trades = Counter("dome_trades_total", "Trades.", ["symbol"], registry=r)
        self.duplicates = Counter(
            "dome_duplicate_orders_total",
            "New orders answered from the idempotency window.",
            ["symbol"],
            registry=r,
        )
        self.match_seconds = Histogram(
            "dome_match_seconds",
            "Time to apply one sequenced batch to the book.",
            ["symbol"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.order_latency = Histogram(
            "dome_order_latency_seconds",
            "Time from receiving a trading call to answering it (a batch for SubmitOrders).",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "dome_batch_size",
            "Commands per sequenced batch.",
            ["symbol"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.sequence = Gauge(
            "dome_sequence", "Last sequence number applied.", ["symbol"], registry=r
        )
        self.book_levels = Gauge(
            "dome_book_levels", "Price levels on the book.", ["symbol", "side"], registry=r
        )
        self.refused = Counter(
            "dome_refused_calls_total",
            "Calls refused with a gRPC error, by status code.",
            ["code"],
            registry=r,
        )
        self.paced = Counter(
            "dome_paced_seconds",
            "Seconds SubmitOrders streams waited for their account's rate limit (slowed, "
            "not refused).",
            registry=r,
        )
        self.open_streams = Gauge(
            "dome_open_streams", "Open server streams, by kind.", ["kind"], registry=r
        )

        self.replica_role = Gauge(
            "dome_replica_role",
            "1 for this engine's current role for the symbol, by role.",
            ["symbol", "role"],
            registry=r,
        )
        self.replica_epoch = Gauge(
            "dome_replica_epoch", "Epoch this engine is in for the symbol.", ["symbol"], registry=r
        )
        self.commit_seconds = Histogram(
            "dome_commit_seconds",
            "Time from journaling a batch to its commit (local fsync and follower acks).",
            ["symbol"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.replication_lag = Gauge(
            "dome_replication_lag_entries",
            "Entries the slowest required follower lacked when the last batch committed.",
            ["symbol"],
            registry=r,
        )
        self.fenced = Counter(
            "dome_replica_fenced_total",
            "Times this engine stopped leading a symbol (epoch change or lapsed lease).",
            ["symbol"],
            registry=r,
        )
        self.replication_refused = Counter(
            "dome_replication_refused_total",
            "Replication entries this engine refused as a follower (a gap in the sequence, "
            "a stale epoch or a malformed entry); it reconnects and tries again.",
            ["symbol"],
            registry=r,
        )

    def for_replica(self, symbol: str) -> ReplicaMetrics:
        """The replication children of one symbol."""
        return ReplicaMetrics(self, symbol)

    def for_symbol(self, symbol: str) -> SymbolMetrics:
        """Bind the per-symbol children once."""
        return SymbolMetrics(
            symbol=symbol,
            parent=self,
            trades=self.trades.labels(symbol),
            duplicates=self.duplicates.labels(symbol),
            match_seconds=self.match_seconds.labels(symbol),
            batch_size=self.batch_size.labels(symbol),
            sequence=self.sequence.labels(symbol),
            bid_levels=self.book_levels.labels(symbol, "bid"),
            ask_levels=self.book_levels.labels(symbol, "ask"),
        )


@contextmanager
def gauged(gauge: Any) -> Iterator[None]:
    """Count one open thing (a stream) on ``gauge`` for the ``with`` block."""
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


_ROLES = ("none", "electing", "primary", "follower")


class ReplicaMetrics:
    """Replication metrics of one symbol (the ``ReplicaStats`` a ``Replica`` moves)."""

    def __init__(self, parent: EngineMetrics, symbol: str) -> None:
        self._roles = {role: parent.replica_role.labels(symbol, role) for role in _ROLES}
        self._epoch = parent.replica_epoch.labels(symbol)
        self._commit = parent.commit_seconds.labels(symbol)
        self._lag = parent.replication_lag.labels(symbol)
        self._fenced = parent.fenced.labels(symbol)
        # Bound now, not on the first refusal, so the series exists (at 0) from the start:
        # an alert's increase() then sees the first refusal too.
        self._refused = parent.replication_refused.labels(symbol)
        self._role = "none"

    def observe_role(self, role: str, epoch: int) -> None:
        """Record the role and epoch; leaving ``primary`` counts as fenced."""
        if self._role == "primary" and role != "primary":
            self._fenced.inc()
        self._role = role
        for name, child in self._roles.items():
            child.set(1 if name == role else 0)
        self._epoch.set(epoch)

    def observe_commit(self, seconds: float, lag: int) -> None:
        """One committed batch."""
        self._commit.observe(seconds)
        self._lag.set(lag)

    def observe_refused(self) -> None:
        """The follower refused an entry from its primary (gap, stale epoch, bad format)."""
        self._refused.inc()
