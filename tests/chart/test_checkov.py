"""checkov, the infrastructure scanner, finds nothing wrong in what DOME deploys.

checkov (pinned in pyproject's test extra) scans the chart as `helm template` renders it
and the operator's render of every Exchange the render tests use (tests/chart/renders.py),
each also with its image pinned by digest. The bar: zero failed checks and no parsing
error; every skip is one of the deliberate ones below, written as checkov's own
``checkov.io/skipN`` annotation on the object, with its reason; and a render whose images
are pinned by digest needs no image skip at all. checkov runs offline (--skip-download).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from renders import Render, chart_renders, operator_renders, write

#: check id -> the objects (kind/name suffix) that may skip it, and why in short; the
#: reason itself lives in the manifest's annotation.
DELIBERATE_SKIPS: dict[str, tuple[str, ...]] = {
    # Images named by tag: the default is a local build with no registry digest, which
    # cannot be pulled Always either. Gone when the image is pinned by digest.
    "CKV_K8S_43": ("Deployment.", "StatefulSet.", "Pod."),
    "CKV_K8S_15": ("Deployment.", "StatefulSet.", "Pod."),
    # Engines without a CPU limit in spec.resources: throttling would stall matching.
    "CKV_K8S_11": ("StatefulSet.",),
    # The `helm test` pod runs to completion and serves nothing: no probes.
    "CKV_K8S_8": ("Pod.",),
    "CKV_K8S_9": ("Pod.",),
}
IMAGE_CHECKS = {"CKV_K8S_43", "CKV_K8S_15"}


def checkov_binary() -> str:
    path = shutil.which("checkov", path=str(Path(sys.executable).parent))
    if path is None:
        pytest.fail("checkov is not installed: `make` installs the test extra (pyproject)")
    return path


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Render], dict[str, Any]]:
    directory = tmp_path_factory.mktemp("manifests")
    files = write([*chart_renders(), *operator_renders()], directory)
    result = subprocess.run(
        [
            checkov_binary(),
            "--directory", str(directory),
            "--framework", "kubernetes",
            "--skip-download",
            "--output", "json",
        ],
        capture_output=True, text=True, timeout=600, check=False, cwd=directory,
    )  # fmt: skip
    # checkov exits 1 when a check fails; the report says which.
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout)
    # One framework, so one report (a list would mean another framework ran too).
    assert isinstance(report, dict), result.stdout[:500]
    assert report["check_type"] == "kubernetes"
    return files, report


def by_file(report: dict[str, Any], key: str) -> dict[str, list[dict[str, Any]]]:
    table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for check in report["results"][key]:
        table[Path(check["file_abs_path"]).name].append(check)
    return table


def test_every_render_was_scanned(scan: tuple[dict[str, Render], dict[str, Any]]) -> None:
    files, report = scan
    assert report["summary"]["parsing_errors"] == 0
    passed = by_file(report, "passed_checks")
    assert set(passed) == set(files), "checkov did not scan every rendered file"
    # Sanity: the checks this suite relies on really ran.
    ran = {check["check_id"] for checks in passed.values() for check in checks}
    assert {"CKV_K8S_38", "CKV_K8S_11", "CKV_K8S_43", "CKV2_K8S_6", "CKV_K8S_20"} <= ran


def test_no_check_fails(scan: tuple[dict[str, Render], dict[str, Any]]) -> None:
    _, report = scan
    failed = [
        f"{check['file_path']}: {check['resource']}: {check['check_id']} {check['check_name']}"
        for check in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    assert report["summary"]["passed"] > 0


def test_every_skip_is_deliberate_and_says_why(
    scan: tuple[dict[str, Render], dict[str, Any]],
) -> None:
    _, report = scan
    for check in report["results"]["skipped_checks"]:
        where = f"{check['file_path']}: {check['resource']}: {check['check_id']}"
        assert check["check_id"] in DELIBERATE_SKIPS, f"unexpected skip {where}"
        assert check["resource"].startswith(DELIBERATE_SKIPS[check["check_id"]]), where
        comment = check["check_result"]["suppress_comment"]
        assert comment != "No comment provided", where
        assert len(comment) > 30, where


def test_images_pinned_by_digest_need_no_image_skip(
    scan: tuple[dict[str, Render], dict[str, Any]],
) -> None:
    files, report = scan
    skipped = by_file(report, "skipped_checks")
    passed = by_file(report, "passed_checks")
    for name, render in files.items():
        image_skips = [c["resource"] for c in skipped[name] if c["check_id"] in IMAGE_CHECKS]
        if render.pinned:
            assert not image_skips, f"{name}: {image_skips}"
            assert any(c["check_id"] == "CKV_K8S_43" for c in passed[name]), name
        else:
            assert image_skips, f"{name}: a tag image passed the digest check?"


def test_an_engine_with_a_cpu_limit_is_not_excused(
    scan: tuple[dict[str, Render], dict[str, Any]],
) -> None:
    files, report = scan
    skipped = by_file(report, "skipped_checks")
    # tls-storage-resources sets spec.resources.limits.cpu; the others leave it out. The
    # FIX gateway, also on the order path, has none either: its StatefulSet skips too.
    for name in files:
        cpu_skips = [c for c in skipped[name] if c["check_id"] == "CKV_K8S_11"]
        if name.startswith("operator-tls-storage-resources"):
            assert not cpu_skips, name
        elif name.startswith("operator-fix-gateway"):
            assert len(cpu_skips) == 2, name
        elif name.startswith("operator-"):
            assert len(cpu_skips) == 1, name
