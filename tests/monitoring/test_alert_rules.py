"""Alert rules: one file, one group and one alert each, a runbook, and promtool's verdict.

``promtool check rules`` validates syntax and templates; ``promtool test rules`` runs each
alert's unit test (``alerts/<Alert>_test.yaml``: input series, expected alerts firing and
not firing at given times).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from monitoring_queries import ALERT_TESTS, REPO, RUNBOOKS, rule_files, tool

ALERT_NAMES = [
    "DomeCommitSlow",
    "DomeEngineDown",
    "DomeFailoverStorm",
    "DomeNoPrimary",
    "DomeReplicationLagging",
    "DomeSequenceGap",
]


def test_one_file_per_alert() -> None:
    assert [path.stem for path in rule_files()] == ALERT_NAMES
    for path in rule_files():
        (group,) = yaml.safe_load(path.read_text())["groups"]
        (rule,) = group["rules"]
        assert rule["alert"] == path.stem
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])


@pytest.mark.parametrize("alert", ALERT_NAMES)
def test_runbook_is_linked_and_exists(alert: str) -> None:
    (rule,) = yaml.safe_load((REPO / "charts/dome/alerts" / f"{alert}.yaml").read_text())["groups"][
        0
    ]["rules"]
    assert rule["annotations"]["runbook_url"] == f"docs/runbooks/{alert}.md"
    runbook = RUNBOOKS / f"{alert}.md"
    assert runbook.read_text().startswith(f"# {alert}\n")


def test_promtool_check_rules() -> None:
    result = subprocess.run(
        [tool("promtool"), "check", "rules", *map(str, rule_files())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("alert", ALERT_NAMES)
def test_promtool_test_rules(alert: str) -> None:
    unit_test: Path = ALERT_TESTS / f"{alert}_test.yaml"
    assert yaml.safe_load(unit_test.read_text())["rule_files"] == [
        f"../../../charts/dome/alerts/{alert}.yaml"
    ]
    result = subprocess.run(
        [tool("promtool"), "test", "rules", str(unit_test)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
