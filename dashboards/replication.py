"""Replication and failover: who leads each symbol, failovers, what replicating costs.

Every symbol has one primary that journals each batch and waits for its followers' acks
before matching it; discovery elects a new primary (a new epoch) when one is lost. The
engines' side of that is charted from the ``dome_replica_*``, ``dome_commit_seconds``,
``dome_replication_lag_entries`` and ``dome_replication_refused_total`` series;
discovery's side (engines alive, leases, elections, failovers and handoffs, its store
and watchers) from ``dome_discovery_*``, filtered by namespace and exchange only.

``dome_replication_lag_entries`` is set when a batch commits, so it keeps its last value
on an engine that stops committing (a demoted or idle primary). The lag panel and the
DomeReplicationLagging alert therefore only count engines that committed during the
window.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.common import LineInterpolation

from dashboards.common import (
    DISCOVERY_SELECTOR,
    RATE,
    SELECTOR,
    base,
    quantiles,
    query,
    stat,
    table,
    timeseries,
)

UID = "dome-replication"

#: Engines that committed a batch of the symbol during the window: its primary, not idle.
COMMITTING = f"rate(dome_commit_seconds_count{{{SELECTOR}}}[{RATE}]) > 0"


def build() -> dashboard.Dashboard:
    """The replication dashboard."""
    board = base(
        UID,
        "DOME / Replication and failover",
        "Discovery's elections, failovers and leases; roles and epochs of each symbol's "
        "replicas, commit latency, replication lag, refused entries and fencing.",
    )
    sel = SELECTOR
    _failover(board)
    board.with_row(dashboard.Row("Leadership"))
    board.with_panel(
        table(
            "Roles now",
            "Each engine's current role for each symbol (`dome_replica_role`): one "
            "primary per symbol, the others following; `electing` while discovery chooses "
            "a new primary, `none` when the engine holds no replica of the symbol.",
            f"max by (symbol, role, pod) (dome_replica_role{{{sel}}}) == 1",
            {"symbol": "Symbol", "role": "Role", "pod": "Engine"},
        )
    )
    board.with_panel(
        timeseries(
            "Engines by role, per symbol",
            "short",
            "How many engines hold each role for each symbol. Healthy: exactly one primary "
            "per symbol. No primary (electing) is a failover in progress: the symbol does "
            "not trade until it ends.",
            query(f"sum by (symbol, role) (dome_replica_role{{{sel}}})", "{{symbol}} {{role}}"),
        )
    )
    board.with_panel(
        timeseries(
            "Epoch by symbol",
            "none",
            "The newest epoch any engine is in for each symbol (`dome_replica_epoch`), and "
            "the epoch discovery published (`dome_discovery_epoch`). A step is a new "
            "primary: a failover, or a handoff when discovery rebalances; engines behind "
            "discovery have not heard of it yet.",
            query(f"max by (symbol) (dome_replica_epoch{{{sel}}})", "{{symbol}}"),
            query(
                f"max by (symbol) (dome_discovery_epoch{{{DISCOVERY_SELECTOR}}})",
                "{{symbol}} (discovery)",
                "B",
            ),
        ).line_interpolation(LineInterpolation.STEP_AFTER)
    )
    board.with_panel(
        timeseries(
            "Fenced/s by symbol and engine",
            "ops",
            "Times an engine stopped leading a symbol (`dome_replica_fenced_total`): "
            "deposed by a newer epoch, or its discovery lease lapsed. Each one is a "
            "failover or handoff seen from the old primary.",
            query(
                f"sum by (symbol, pod) (rate(dome_replica_fenced_total{{{sel}}}[{RATE}]))",
                "{{symbol}} {{pod}}",
            ),
        )
    )

    board.with_row(dashboard.Row("Commit"))
    board.with_panel(
        timeseries(
            "Commit time per batch, p50 and p99",
            "s",
            "Time from journaling a batch on the primary to its commit: local flush and "
            "the followers' acks (`dome_commit_seconds`). Clients wait for it on every "
            "order; see the DomeCommitSlow alert.",
            *quantiles("dome_commit_seconds", "symbol", "{{symbol}}"),
        )
    )
    board.with_panel(
        timeseries(
            "Commits/s by symbol",
            "ops",
            "Batches committed per second by each symbol's primary.",
            query(
                f"sum by (symbol) (rate(dome_commit_seconds_count{{{sel}}}[{RATE}]))",
                "{{symbol}}",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Replication lag (entries)",
            "short",
            "Entries the slowest required follower lacked when the primary's last batch "
            "committed (`dome_replication_lag_entries`), for primaries that committed in "
            "the window. Above zero only with `majority` acks (with `all`, a follower "
            "that falls behind leaves the in-sync set instead); see the "
            "DomeReplicationLagging alert.",
            query(
                f"max by (symbol) (dome_replication_lag_entries{{{sel}}} "
                f"and on (job, instance, symbol) {COMMITTING})",
                "{{symbol}}",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Refused replication entries/s",
            "ops",
            "Entries a follower refused from its primary (`dome_replication_refused_total`): "
            "a gap in the sequence, a stale epoch or a malformed entry; the follower "
            "reconnects and asks again. One or two at a failover are normal, a steady "
            "rate is not; see the DomeSequenceGap alert.",
            query(
                f"sum by (symbol, pod) (rate(dome_replication_refused_total{{{sel}}}[{RATE}]))",
                "{{symbol}} {{pod}}",
            ),
        )
    )
    return board


def _failover(board: dashboard.Dashboard) -> None:
    """Discovery's row: engines and leases, elections, failovers and handoffs."""
    disc = DISCOVERY_SELECTOR
    board.with_row(dashboard.Row("Failover (discovery)"))
    board.with_panel(
        stat(
            "Elections open",
            "short",
            "Symbols without a primary now (`dome_discovery_elections_open`): they do not "
            "trade until discovery elects one; see the DomeNoPrimary alert.",
            query(f"max(dome_discovery_elections_open{{{disc}}})", "open"),
        )
    )
    board.with_panel(
        stat(
            "Elections stuck",
            "short",
            "Open elections with no eligible (in-sync) replica alive "
            "(`dome_discovery_elections_stuck`): discovery waits for one to return.",
            query(f"max(dome_discovery_elections_stuck{{{disc}}})", "stuck"),
        )
    )
    board.with_panel(
        stat(
            "Engines alive",
            "short",
            "Registered engines whose discovery lease is current (`dome_discovery_engines`).",
            query(f'max(dome_discovery_engines{{state="alive", {disc}}})', "alive"),
        )
    )
    board.with_panel(
        stat(
            "Engines dead",
            "short",
            "Registered engines whose lease lapsed and that have not come back.",
            query(f'max(dome_discovery_engines{{state="dead", {disc}}})', "dead"),
        )
    )
    board.with_panel(
        stat(
            "Failovers (range)",
            "short",
            "Primaries lost and replaced during the dashboard's time range, every symbol; "
            "see the DomeFailoverStorm alert.",
            query(
                f"sum(increase(dome_discovery_failovers_total{{{disc}}}[$__range]))",
                "failovers",
            ),
        )
    )
    board.with_panel(
        stat(
            "Lease expirations (range)",
            "short",
            "Engine leases that lapsed during the dashboard's time range "
            "(`dome_discovery_lease_expirations_total`): engines that died or stopped "
            "heartbeating.",
            query(
                f"sum(increase(dome_discovery_lease_expirations_total{{{disc}}}[$__range]))",
                "expirations",
            ),
        )
    )
    board.with_panel(
        stat(
            "Config documents refused (range)",
            "short",
            "Documents of discovery's ConfigMap it refused during the dashboard's time range "
            "(`dome_discovery_config_errors_total`): discovery keeps the configuration in "
            "force, so a scale or instruments edit has not taken effect; its log says why.",
            query(
                f"sum(increase(dome_discovery_config_errors_total{{{disc}}}[$__range]))",
                "refused",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Failovers and handoffs by symbol",
            "short",
            "Elections discovery opened, per interval: failovers because a primary was lost "
            "(`dome_discovery_failovers_total`), handoffs to move a primary when "
            "rebalancing (`dome_discovery_handoffs_total`).",
            query(
                f"sum by (symbol) (increase(dome_discovery_failovers_total{{{disc}}}[{RATE}]))",
                "{{symbol}} failovers",
            ),
            query(
                f"sum by (symbol) (increase(dome_discovery_handoffs_total{{{disc}}}[{RATE}]))",
                "{{symbol}} handoffs",
                "B",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Elections and engines",
            "short",
            "Symbols electing and elections stuck, engines alive and dead, as discovery "
            "sees them over time.",
            query(f"max(dome_discovery_elections_open{{{disc}}})", "elections open"),
            query(f"max(dome_discovery_elections_stuck{{{disc}}})", "elections stuck", "B"),
            query(f"max by (state) (dome_discovery_engines{{{disc}}})", "engines {{state}}", "C"),
        )
    )
    board.with_panel(
        timeseries(
            "Lease expirations and placement changes",
            "short",
            "Engine leases that lapsed per interval, and placement versions published per "
            "interval (`dome_discovery_placement_version`: every election, epoch and "
            "replica-set change publishes one).",
            query(
                f"sum(increase(dome_discovery_lease_expirations_total{{{disc}}}[{RATE}]))",
                "lease expirations",
            ),
            query(
                f"max(delta(dome_discovery_placement_version{{{disc}}}[{RATE}]))",
                "placement changes",
                "B",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Discovery store and watchers",
            "short",
            "Placement store writes lost to another writer (conflicts) and failed reads "
            "or writes per second; open WatchPlacement streams (engines and clients) and "
            "watchers cut off for falling behind.",
            query(
                f"sum(rate(dome_discovery_store_conflicts_total{{{disc}}}[{RATE}]))",
                "store conflicts/s",
            ),
            query(
                f"sum(rate(dome_discovery_store_errors_total{{{disc}}}[{RATE}]))",
                "store errors/s",
                "B",
            ),
            query(f"sum(dome_discovery_watchers{{{disc}}})", "watchers", "C"),
            query(
                f"sum(rate(dome_discovery_watchers_cut_total{{{disc}}}[{RATE}]))",
                "watchers cut/s",
                "D",
            ),
        )
    )
