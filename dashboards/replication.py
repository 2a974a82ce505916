"""Replication: who leads each symbol, failovers, and what replicating a batch costs.

Every symbol has one primary that journals each batch and waits for its followers' acks
before matching it; discovery elects a new primary (a new epoch) when one is lost. The
engine's side of that is charted here from the ``dome_replica_*``, ``dome_commit_seconds``
and ``dome_replication_lag_entries`` series. Discovery's own view (elections, leases) is
not charted yet.

``dome_replication_lag_entries`` is set when a batch commits, so it keeps its last value
on an engine that stops committing (a demoted or idle primary). The lag panel and the
DomeReplicationLagging alert therefore only count engines that committed during the
window.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.common import LineInterpolation

from dashboards.common import RATE, SELECTOR, base, quantiles, query, table, timeseries

UID = "dome-replication"

#: Engines that committed a batch of the symbol during the window: its primary, not idle.
COMMITTING = f"rate(dome_commit_seconds_count{{{SELECTOR}}}[{RATE}]) > 0"


def build() -> dashboard.Dashboard:
    """The replication dashboard."""
    board = base(
        UID,
        "DOME / Replication",
        "Roles and epochs of each symbol's replicas, commit latency, replication lag and fencing.",
    )
    sel = SELECTOR
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
            "The newest epoch any engine is in for each symbol (`dome_replica_epoch`). A "
            "step is a new primary: a failover, or a handoff when discovery rebalances.",
            query(f"max by (symbol) (dome_replica_epoch{{{sel}}})", "{{symbol}}"),
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
        ).span(24)
    )
    return board
