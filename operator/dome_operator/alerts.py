"""DOME's alert rules, as charts/dome/alerts/*.yaml ship them: a PrometheusRule's groups.

Generated from the chart's rule files by tests/operator/test_alert_rules_module.py
(``UPDATE_GOLDEN=1 pytest tests/operator``); edit the YAML files, not this one. The
operator's image holds Python packages, not the chart, so the rules travel as code; the
test fails when the two disagree. ``render`` narrows each rule to one exchange.
"""

# ruff: noqa: E501

from __future__ import annotations

from typing import Any, Final

RULE_GROUPS: Final[tuple[dict[str, Any], ...]] = (
    {
        "name": "dome-commit-slow",
        "rules": [
            {
                "alert": "DomeCommitSlow",
                "expr": 'histogram_quantile(0.99,\n  sum by (namespace, job, symbol, le) (\n    rate(dome_commit_seconds_bucket{job=~".+-engine(-headless)?"}[2m])\n  )\n) > 0.1',
                "for": "5m",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": "DOME {{ $labels.symbol }} commits slowly (p99 {{ $value | humanizeDuration }}, {{ $labels.job }})",
                    "description": "The 99th percentile of the time {{ $labels.symbol }}'s primary (job {{ $labels.job }}{{ with $labels.namespace }}, namespace {{ . }}{{ end }}) takes to journal a batch and collect its followers' acks has been above 100 ms for 5 minutes. Every order on the symbol waits at least that long.",
                    "runbook_url": "docs/runbooks/DomeCommitSlow.md",
                },
            }
        ],
    },
    {
        "name": "dome-engine-down",
        "rules": [
            {
                "alert": "DomeEngineDown",
                "expr": 'up{job=~".+-engine(-headless)?"} == 0',
                "for": "1m",
                "labels": {"severity": "critical"},
                "annotations": {
                    "summary": "DOME engine {{ $labels.instance }} ({{ $labels.job }}) is down",
                    "description": "Prometheus has not scraped the DOME engine {{ $labels.instance }} (job {{ $labels.job }}{{ with $labels.namespace }}, namespace {{ . }}{{ end }}) for more than a minute. Orders for the symbols it holds are not being matched.",
                    "runbook_url": "docs/runbooks/DomeEngineDown.md",
                },
            }
        ],
    },
    {
        "name": "dome-failover-storm",
        "rules": [
            {
                "alert": "DomeFailoverStorm",
                "expr": 'increase(dome_discovery_failovers_total{job=~".+-discovery"}[10m]) >= 4',
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": 'DOME {{ $labels.symbol }} failed over {{ $value | printf "%.0f" }} times in 10 minutes ({{ $labels.job }})',
                    "description": 'Discovery (job {{ $labels.job }}{{ with $labels.namespace }}, namespace {{ . }}{{ end }}) has elected a new primary for {{ $labels.symbol }} after losing the previous one {{ $value | printf "%.0f" }} times in 10 minutes. Each failover stops the symbol until the election ends.',
                    "runbook_url": "docs/runbooks/DomeFailoverStorm.md",
                },
            }
        ],
    },
    {
        "name": "dome-no-primary",
        "rules": [
            {
                "alert": "DomeNoPrimary",
                "expr": 'dome_discovery_elections_open{job=~".+-discovery"} > 0',
                "for": "30s",
                "labels": {"severity": "critical"},
                "annotations": {
                    "summary": "DOME {{ $labels.job }}: {{ $value }} symbol(s) without a primary for over 30s",
                    "description": "Discovery (job {{ $labels.job }}{{ with $labels.namespace }}, namespace {{ . }}{{ end }}) has had {{ $value }} symbol(s) electing a new primary for more than 30 seconds. Orders for those symbols are refused until a primary is elected. If dome_discovery_elections_stuck is above 0, no in-sync replica of them is alive.",
                    "runbook_url": "docs/runbooks/DomeNoPrimary.md",
                },
            }
        ],
    },
    {
        "name": "dome-replication-lagging",
        "rules": [
            {
                "alert": "DomeReplicationLagging",
                "expr": 'dome_replication_lag_entries{job=~".+-engine(-headless)?"} > 10000 and on (job, instance, symbol) rate(dome_commit_seconds_count{job=~".+-engine(-headless)?"}[5m]) > 0',
                "for": "5m",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": "DOME {{ $labels.symbol }} followers lag {{ $value }} entries behind {{ $labels.instance }}",
                    "description": "The slowest follower {{ $labels.symbol }}'s primary {{ $labels.instance }} (job {{ $labels.job }}{{ with $labels.namespace }}, namespace {{ . }}{{ end }}) waits on has been more than 10000 entries behind at every commit for 5 minutes. A failover to it would wait for it to catch up.",
                    "runbook_url": "docs/runbooks/DomeReplicationLagging.md",
                },
            }
        ],
    },
    {
        "name": "dome-sequence-gap",
        "rules": [
            {
                "alert": "DomeSequenceGap",
                "expr": 'rate(dome_replication_refused_total{job=~".+-engine(-headless)?"}[2m]) > 0',
                "for": "3m",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": "DOME follower {{ $labels.instance }} keeps refusing {{ $labels.symbol }} replication entries",
                    "description": "The follower {{ $labels.instance }} (job {{ $labels.job }}{{ with $labels.namespace }}, namespace {{ . }}{{ end }}) has refused replication entries of {{ $labels.symbol }} from its primary for 3 minutes (a gap in the sequence, a stale epoch or a malformed entry). It is not keeping a copy of the symbol's log.",
                    "runbook_url": "docs/runbooks/DomeSequenceGap.md",
                },
            }
        ],
    },
)
