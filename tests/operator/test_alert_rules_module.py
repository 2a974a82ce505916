"""The operator carries exactly the chart's alert rules, and renders them scoped.

charts/dome/alerts/*.yaml are the source (tests/monitoring checks them with promtool);
dome_operator/alerts.py is generated from them, because the operator's image holds
Python packages, not the chart. Regenerate it with ``UPDATE_GOLDEN=1 pytest
tests/operator`` after editing an alert, like the golden files.
"""

from __future__ import annotations

import os
import pprint
import subprocess
import sys
from typing import Any

import yaml
from operator_helpers import REPO

from dome_operator import alerts

ALERTS = REPO / "charts" / "dome" / "alerts"
MODULE = REPO / "operator" / "dome_operator" / "alerts.py"

HEADER = '''\
"""DOME's alert rules, as charts/dome/alerts/*.yaml ship them: a PrometheusRule's groups.

Generated from the chart's rule files by tests/operator/test_alert_rules_module.py
(``UPDATE_GOLDEN=1 pytest tests/operator``); edit the YAML files, not this one. The
operator's image holds Python packages, not the chart, so the rules travel as code; the
test fails when the two disagree. ``render`` narrows each rule to one exchange.
"""

# ruff: noqa: E501

from __future__ import annotations

from typing import Any, Final

'''


def chart_rule_groups() -> tuple[dict[str, Any], ...]:
    """Every group of every rule file, in file-name order."""
    return tuple(
        group
        for path in sorted(ALERTS.glob("*.yaml"))
        for group in yaml.safe_load(path.read_text())["groups"]
    )


def module_text(groups: tuple[dict[str, Any], ...]) -> str:
    # One line, strings whole: ruff format lays it out and never splits a string.
    literal = pprint.pformat(groups, width=1_000_000, sort_dicts=False)
    return f"{HEADER}RULE_GROUPS: Final[tuple[dict[str, Any], ...]] = {literal}\n"


def generated_module() -> str:
    """The module as the generator writes it, formatted with the project's ruff settings."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(MODULE), "-"],
        input=module_text(chart_rule_groups()),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def test_the_operator_carries_every_alert_rule_of_the_chart() -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        MODULE.write_text(generated_module())
    expected = chart_rule_groups()
    assert [rule["alert"] for group in expected for rule in group["rules"]] == [
        "DomeCommitSlow",
        "DomeEngineDown",
        "DomeFailoverStorm",
        "DomeNoPrimary",
        "DomeReplicationLagging",
        "DomeSequenceGap",
    ]
    assert expected == alerts.RULE_GROUPS, (
        "dome_operator/alerts.py differs from charts/dome/alerts; regenerate it with "
        "UPDATE_GOLDEN=1 pytest tests/operator and review the diff"
    )


def test_the_module_is_what_the_generator_writes() -> None:
    assert generated_module() == MODULE.read_text(), "regenerate with UPDATE_GOLDEN=1"
