"""Prometheus metrics of discovery, in a registry of its own.

Labels stay bounded: ``symbol`` (the instruments file), ``state`` and ``reason`` (small
closed sets). A registry per process object lets tests run several in one process.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge


class DiscoveryMetrics:
    """Every series discovery exports."""

    def __init__(self, symbols: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.engines = Gauge(
            "dome_discovery_engines", "Registered engines by lease state.", ["state"], registry=r
        )
        self.failovers = Counter(
            "dome_discovery_failovers_total",
            "Elections opened because a primary was lost.",
            ["symbol"],
            registry=r,
        )
        self.handoffs = Counter(
            "dome_discovery_handoffs_total",
            "Elections opened to move a primary (rebalancing).",
            ["symbol"],
            registry=r,
        )
        self.epoch = Gauge("dome_discovery_epoch", "Current epoch.", ["symbol"], registry=r)
        self.elections_open = Gauge(
            "dome_discovery_elections_open", "Symbols with an election open.", registry=r
        )
        self.elections_stuck = Gauge(
            "dome_discovery_elections_stuck",
            "Open elections with no eligible replica alive (waiting for one to return).",
            registry=r,
        )
        self.lease_expirations = Counter(
            "dome_discovery_lease_expirations_total", "Engine leases that lapsed.", registry=r
        )
        self.store_conflicts = Counter(
            "dome_discovery_store_conflicts_total",
            "Compare-and-set writes lost to another writer.",
            registry=r,
        )
        self.store_errors = Counter(
            "dome_discovery_store_errors_total", "Store reads or writes that failed.", registry=r
        )
        self.placement_version = Gauge(
            "dome_discovery_placement_version", "Version of the published placement.", registry=r
        )
        self.watchers = Gauge("dome_discovery_watchers", "Open WatchPlacement streams.", registry=r)
        self.watchers_cut = Counter(
            "dome_discovery_watchers_cut_total",
            "Watchers cut off because they fell behind.",
            registry=r,
        )
        self.config_errors = Counter(
            "dome_discovery_config_errors_total",
            "Configuration documents (or reads of them) refused; the one in force stayed.",
            registry=r,
        )
        self.declare_symbols(symbols)

    def declare_symbols(self, symbols: Iterable[str]) -> None:
        """Export each symbol's failover and handoff counters at 0 before the first one.

        A counter child otherwise appears with its first increment, so dashboards show no
        data for a healthy symbol and ``increase()`` misses that first failover.
        """
        for symbol in symbols:
            self.failovers.labels(symbol)
            self.handoffs.labels(symbol)
