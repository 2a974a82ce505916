"""Exchange overview: is the exchange up, what flows through it, what its books hold.

The first dashboard an operator opens: engines up (and the version and book core each
runs), order and trade rates, rejects and refused calls, idempotent replays, book depth
and sequence per symbol, open streams; and the FIX gateway's sessions, messages,
logons, rejects and answer latency (spec.fix).
Matching and order latency have their own dashboard (``matching_latency``).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from dashboards.common import (
    FIX_SELECTOR,
    RATE,
    SELECTOR,
    base,
    quantiles,
    query,
    stat,
    table,
    timeseries,
)

UID = "dome-exchange-overview"


def build() -> dashboard.Dashboard:
    """The exchange overview dashboard."""
    board = base(
        UID,
        "DOME / Exchange overview",
        "Engines, order and trade flow, rejects, books and streams of DOME exchanges.",
    )
    sel = SELECTOR
    board.with_row(dashboard.Row("Health"))
    board.with_panel(
        stat(
            "Engines up",
            "short",
            "Engine targets Prometheus scrapes successfully (`up`); see the DomeEngineDown alert.",
            query(f"sum(up{{{sel}}})", "engines up"),
        )
    )
    board.with_panel(
        stat(
            "Orders/s",
            "ops",
            "Commands applied per second, every type and outcome.",
            query(f"sum(rate(dome_orders_total{{{sel}}}[{RATE}]))", "orders/s"),
        )
    )
    board.with_panel(
        stat(
            "Trades/s",
            "ops",
            "Trades per second.",
            query(f"sum(rate(dome_trades_total{{{sel}}}[{RATE}]))", "trades/s"),
        )
    )
    board.with_panel(
        stat(
            "Rejects/s",
            "ops",
            "Commands rejected by exchange rules per second.",
            query(f"sum(rate(dome_rejects_total{{{sel}}}[{RATE}]))", "rejects/s"),
        )
    )
    board.with_panel(
        stat(
            "Refused calls/s",
            "ops",
            "Calls answered with a gRPC error (auth, limits, bad input) per second.",
            query(f"sum(rate(dome_refused_calls_total{{{sel}}}[{RATE}]))", "refused/s"),
        )
    )
    board.with_panel(
        stat(
            "Open streams",
            "short",
            "Server streams open now: executions, book, trades and bulk order streams.",
            query(f"sum(dome_open_streams{{{sel}}})", "streams"),
        )
    )
    board.with_panel(
        table(
            "Engines: version and book core",
            "What each engine runs (`dome_build_info`): the DOME version and the book core, "
            "`native` (Rust) or `python` (the reference core, a fallback several times "
            "slower: an engine on it where native is expected was started without the "
            "native build).",
            f"max by (pod, core, version) (dome_build_info{{{sel}}})",
            {"pod": "Engine", "core": "Core", "version": "Version"},
        )
    )

    board.with_row(dashboard.Row("Flow"))
    board.with_panel(
        timeseries(
            "Orders/s by symbol and outcome",
            "ops",
            "Commands applied per second, by symbol and outcome status.",
            query(
                f"sum by (symbol, outcome) (rate(dome_orders_total{{{sel}}}[{RATE}]))",
                "{{symbol}} {{outcome}}",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Orders/s by type",
            "ops",
            "Commands applied per second, by order type (or cancel/amend).",
            query(
                f"sum by (type) (rate(dome_orders_total{{{sel}}}[{RATE}]))",
                "{{type}}",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Trades/s by symbol",
            "ops",
            "Trades per second, by symbol.",
            query(f"sum by (symbol) (rate(dome_trades_total{{{sel}}}[{RATE}]))", "{{symbol}}"),
        )
    )
    board.with_panel(
        timeseries(
            "Rejects/s by reason",
            "ops",
            "Commands rejected by exchange rules per second, by reject reason.",
            query(
                f"sum by (reason) (rate(dome_rejects_total{{{sel}}}[{RATE}]))",
                "{{reason}}",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Refused calls/s by code",
            "ops",
            "Calls refused with a gRPC status per second: unauthenticated, "
            "resource_exhausted (rate and stream limits), invalid_argument, ...",
            query(
                f"sum by (code) (rate(dome_refused_calls_total{{{sel}}}[{RATE}]))",
                "{{code}}",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Streams slowed by the rate limit",
            "percentunit",
            "Share of time SubmitOrders streams spent waiting for their account's rate "
            "limit (summed over streams): slowed by flow control, not refused.",
            query(f"sum(rate(dome_paced_seconds_total{{{sel}}}[{RATE}]))", "waiting"),
        )
    )
    board.with_panel(
        timeseries(
            "Idempotent replays/s by symbol",
            "ops",
            "New orders answered from the idempotency window (a client retried a client "
            "order id): a rise means clients are losing answers.",
            query(
                f"sum by (symbol) (rate(dome_duplicate_orders_total{{{sel}}}[{RATE}]))",
                "{{symbol}}",
            ),
        )
    )

    board.with_row(dashboard.Row("Books and streams"))
    board.with_panel(
        timeseries(
            "Book depth (price levels)",
            "short",
            "Price levels on each side of each book.",
            query(
                f"max by (symbol, side) (dome_book_levels{{{sel}}})",
                "{{symbol}} {{side}}",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "Sequence by symbol",
            "short",
            "Last sequence number applied to each symbol's book.",
            query(f"max by (symbol) (dome_sequence{{{sel}}})", "{{symbol}}"),
        )
    )
    board.with_panel(
        timeseries(
            "Open streams by kind",
            "short",
            "Server streams open now, by kind.",
            query(f"sum by (kind) (dome_open_streams{{{sel}}})", "{{kind}}"),
        )
    )
    _fix_row(board)
    return board


def _fix_row(board: dashboard.Dashboard) -> None:
    """The FIX gateway (``dome_fix_*``): empty for an exchange without spec.fix."""
    fix = FIX_SELECTOR
    board.with_row(dashboard.Row("FIX gateway"))
    board.with_panel(
        stat(
            "FIX sessions",
            "short",
            "FIX sessions logged on now (one per account at most).",
            query(f"sum(dome_fix_sessions{{{fix}}})", "sessions"),
        )
    )
    board.with_panel(
        timeseries(
            "FIX messages/s by direction and type",
            "ops",
            "FIX messages received (in) and sent (out) per second, by MsgType: D new "
            "order, F cancel, G replace, 8 execution report, 0 heartbeat, ...",
            query(
                f"sum by (direction, msg_type) (rate(dome_fix_messages_total{{{fix}}}[{RATE}]))",
                "{{direction}} {{msg_type}}",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "FIX rejects/s by kind",
            "ops",
            "Rejects the gateway sent per second: session (3), business (j), order "
            "(ExecutionReport rejected), cancel (9), market_data (Y).",
            query(
                f"sum by (kind) (rate(dome_fix_rejects_total{{{fix}}}[{RATE}]))",
                "{{kind}}",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "FIX logons/s by outcome",
            "ops",
            "Logon attempts per second; refused ones (a wrong password, an unknown "
            "account) are answered with a Logout.",
            query(
                f"sum by (outcome) (rate(dome_fix_logons_total{{{fix}}}[{RATE}]))",
                "{{outcome}}",
            ),
        )
    )
    board.with_panel(
        timeseries(
            "FIX answer latency by type, p50 and p99",
            "s",
            "From an application message received to its answers sent, by MsgType.",
            *quantiles("dome_fix_request_seconds", "msg_type", "{{msg_type}}", fix),
        )
    )
