"""Operator: is the DOME operator keeping its Exchanges reconciled, and are they ready.

The operator turns each Exchange into its workloads (render, apply, prune) and reports
the Exchange's status, asking its discovery for the placement. Its own metrics
(``dome_operator_*``, served by ``dome-operator --metrics-port`` and scraped through the
chart's opt-in ServiceMonitor) answer: do reconciles succeed and how long do they take,
do they change anything, how many Exchanges are Ready, and does discovery answer.

The operator is not part of an exchange, so this dashboard has its own variables:
the namespace the operator runs in, then its scrape job (the chart's metrics Service,
``<release>-dome-metrics``), both read from ``dome_operator_reconciles_total``.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from dashboards.common import (
    RATE,
    Variable,
    base,
    datasource_variable,
    label_variable,
    quantiles,
    query,
    stat,
    timeseries,
)

UID = "dome-operator"

#: Every operator query carries this selector.
SELECTOR = 'namespace=~"$namespace", job=~"$job"'


def variables() -> list[Variable]:
    """``datasource``, then the operator's namespace → job."""
    namespace = label_variable(
        "namespace", "Namespace", "dome_operator_reconciles_total", "namespace"
    )
    job = label_variable(
        "job", "Operator", 'dome_operator_reconciles_total{namespace=~"$namespace"}', "job"
    )
    return [datasource_variable(), namespace, job]


def build() -> dashboard.Dashboard:
    """The operator dashboard."""
    board = base(
        UID,
        "DOME / Operator",
        "Reconciles of Exchanges by outcome and duration, objects applied, Exchanges by "
        "readiness, and placement reads from discovery.",
        variables,
    )
    sel = SELECTOR
    board.with_row(dashboard.Row("Exchanges"))
    board.with_panel(
        stat(
            "Exchanges ready",
            "short",
            "Exchanges whose Ready condition is True (`dome_operator_exchanges`).",
            query(f'sum(dome_operator_exchanges{{ready="True", {sel}}})', "ready"),
        )
    )
    board.with_panel(
        stat(
            "Exchanges not ready",
            "short",
            "Exchanges whose Ready condition is False or Unknown: `kubectl get exchanges` "
            "shows which, and their conditions why.",
            query(f'sum(dome_operator_exchanges{{ready!="True", {sel}}})', "not ready"),
        )
    )
    board.with_panel(
        stat(
            "Failing reconciles/s",
            "ops",
            "Reconciles that raised: `retry` (an API call failed; kopf tries again) and "
            "`failed` (an invalid spec or an object the API server refused).",
            query(
                f'sum(rate(dome_operator_reconciles_total{{outcome=~"retry|failed", {sel}}}'
                f"[{RATE}]))",
                "failing/s",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Exchanges by Ready",
            "short",
            "Exchanges the operator reported on, by the status of their Ready condition.",
            query(f"sum by (ready) (dome_operator_exchanges{{{sel}}})", "{{ready}}"),
        )
    )
    board.with_panel(
        timeseries(
            "Placement reads/s by result",
            "ops",
            "GetPlacement calls to each Exchange's discovery for its status "
            "(`dome_operator_placement_reads_total`): `unavailable` means discovery did "
            "not answer in time (or the Exchange uses TLS, which the operator cannot "
            "present); the status then keeps the last placement and says so.",
            query(
                f"sum by (result) (rate(dome_operator_placement_reads_total{{{sel}}}[{RATE}]))",
                "{{result}}",
            ),
        )
    )

    board.with_row(dashboard.Row("Reconciles"))
    board.with_panel(
        timeseries(
            "Reconciles/s by outcome",
            "ops",
            "Exchange reconciles (create, resume, spec change) per second by outcome: "
            "`success`, `gone` (the Exchange was deleted meanwhile), `retry`, `failed`.",
            query(
                f"sum by (outcome) (rate(dome_operator_reconciles_total{{{sel}}}[{RATE}]))",
                "{{outcome}}",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Reconcile time, p50 and p99",
            "s",
            "Time one reconcile takes: render, apply, prune and the status write, which "
            "waits for discovery's placement (`dome_operator_reconcile_seconds`).",
            *quantiles("dome_operator_reconcile_seconds", "", "reconcile", sel),
        )
    )
    board.with_panel(
        timeseries(
            "Objects/s by action",
            "ops",
            "Rendered objects a reconcile applied (they differed from the live ones) or "
            "skipped as unchanged, and children it pruned (`dome_operator_objects_total`). "
            "Applies without spec changes mean something else edits the children.",
            query(
                f"sum by (action) (rate(dome_operator_objects_total{{{sel}}}[{RATE}]))",
                "{{action}}",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Engine pods rolled",
            "short",
            "Engine pods the operator deleted to roll a new pod template onto them "
            "(`dome_operator_engine_pods_rolled_total`), one at a time: the engine leading "
            "fewest symbols first, the next once every symbol is back in sync. A rollout "
            "that stops short waits on something the Exchange's Progressing condition names.",
            query(
                f"sum(increase(dome_operator_engine_pods_rolled_total{{{sel}}}[{RATE}]))",
                "rolled",
            ),
        )
    )
    return board
