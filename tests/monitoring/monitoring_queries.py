"""What the dashboards and alerts query, read back from the committed files.

The tests check the artefacts we ship (the JSON in the chart, the rule files), not the
generator's objects, so a hand edit or a stale file is caught too.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "charts" / "dome" / "dashboards"
ALERTS = REPO / "charts" / "dome" / "alerts"
ALERT_TESTS = Path(__file__).resolve().parent / "alerts"
RUNBOOKS = REPO / "docs" / "runbooks"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
#: A vector selector: a metric name followed by its label matchers. Every query we ship
#: names its metrics this way (a bare name would escape the dashboard variables).
_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})")
_METRIC_WORD = re.compile(r"\b(dome_[a-z0-9_]+|up)\b")


def dashboards() -> dict[str, dict[str, Any]]:
    """Every committed dashboard, by file name."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' children included."""
    found: list[dict[str, Any]] = []
    for panel in board.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def dashboard_exprs() -> list[str]:
    """The PromQL of every panel target of every dashboard."""
    return [
        target["expr"]
        for board in dashboards().values()
        for panel in panels(board)
        for target in panel.get("targets", [])
    ]


def rule_files() -> list[Path]:
    return sorted(ALERTS.glob("*.yaml"))


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of every rule file."""
    return [
        rule
        for path in rule_files()
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def selectors(expr: str) -> list[str]:
    """The vector selectors (``name{matchers}``) of a PromQL expression.

    Fails when a metric-looking word appears outside a selector, so a query cannot hide
    a metric from the checks.
    """
    found = [name + matchers for name, matchers in _SELECTOR.findall(expr)]
    # Blank out selectors and strings, then no metric name may be left over.
    rest = _SELECTOR.sub(" ", _STRING.sub('""', expr))
    bare = _METRIC_WORD.findall(rest)
    assert not bare, f"{expr!r} names {bare} without a label selector"
    return found


def metric_name(selector: str) -> str:
    """The series name a selector queries (``dome_match_seconds_bucket``, ``up``)."""
    return selector.split("{", 1)[0].strip()


def tool(name: str) -> str:
    """``prometheus`` or ``promtool``; their absence fails, it does not skip."""
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
    )
    if found is None:
        pytest.fail(f"{name} not found: install the Debian prometheus package (make/.ci does)")
    return found
