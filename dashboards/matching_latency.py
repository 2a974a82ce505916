"""Matching latency: how long the book takes per batch, and clients per call.

Two histograms answer different questions. ``dome_match_seconds`` is the time to apply
one sequenced batch to a book (the matching core's cost); ``dome_order_latency_seconds``
is the time from receiving a trading call to answering it (what a client waits, queueing
and batching included). Batch sizes explain the gap: the sequencer folds concurrent
commands into one batch, so a busy symbol matches fewer, larger batches.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, prometheus

from dashboards.common import RATE, SELECTOR, base, quantiles, query, timeseries

UID = "dome-matching-latency"


def _mean(metric: str, by: str, legend: str, ref: str = "C") -> prometheus.Dataquery:
    total = f"sum by ({by}) (rate({metric}_sum{{{SELECTOR}}}[{RATE}]))"
    count = f"sum by ({by}) (rate({metric}_count{{{SELECTOR}}}[{RATE}]))"
    return query(f"{total} / {count}", f"{legend} mean", ref)


def build() -> dashboard.Dashboard:
    """The matching latency dashboard."""
    board = base(
        UID,
        "DOME / Matching latency",
        "Time to match a batch, time to answer a trading call, and batch sizes.",
    )
    board.with_row(dashboard.Row("Matching"))
    board.with_panel(
        timeseries(
            "Match time per batch, p50 and p99",
            "s",
            "Time to apply one sequenced batch to a symbol's book (`dome_match_seconds`).",
            *quantiles("dome_match_seconds", "symbol", "{{symbol}}"),
        )
    )
    board.with_panel(
        timeseries(
            "Batches/s by symbol",
            "ops",
            "Sequenced batches matched per second.",
            query(
                f"sum by (symbol) (rate(dome_match_seconds_count{{{SELECTOR}}}[{RATE}]))",
                "{{symbol}}",
            ),
        )
    )
    board.with_row(dashboard.Row("Clients"))
    board.with_panel(
        timeseries(
            "Order latency by method, p50 and p99",
            "s",
            "Time from receiving a trading call to answering it "
            "(`dome_order_latency_seconds`; one batch for SubmitOrders).",
            *quantiles("dome_order_latency_seconds", "method", "{{method}}"),
        )
    )
    board.with_panel(
        timeseries(
            "Order latency by method, mean",
            "s",
            "Mean time to answer a trading call, by method.",
            _mean("dome_order_latency_seconds", "method", "{{method}}", "A"),
        )
    )
    board.with_row(dashboard.Row("Batching"))
    board.with_panel(
        timeseries(
            "Batch size, p50 and p99",
            "short",
            "Commands per sequenced batch (`dome_batch_size`): concurrent commands fold "
            "into one batch.",
            *quantiles("dome_batch_size", "symbol", "{{symbol}}"),
        )
    )
    board.with_panel(
        timeseries(
            "Batch size, mean",
            "short",
            "Mean commands per sequenced batch, by symbol.",
            _mean("dome_batch_size", "symbol", "{{symbol}}", "A"),
        )
    )
    return board
