"""The chart's NOTES.txt: it prints a first Exchange to copy, which validates and follows values."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml
from chart_render import (
    CHART,
    FULLNAME,
    NAMESPACE,
    RELEASE,
    Obj,
    render,
)

from dome_operator.versions import OLDEST_SUPPORTED_KUBERNETES


def render_notes(tmp_path: Path, *flags: str) -> str:
    """NOTES.txt as `helm install` prints it. `helm template` skips NOTES and
    `helm install --dry-run` needs a cluster, so a copy of the chart renders the same
    text through a template that wraps it in a YAML string."""
    chart = tmp_path / "dome"
    shutil.copytree(CHART, chart, dirs_exist_ok=True)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "_notes.tpl").write_text(
        '{{- define "test.notes" -}}' + notes + "{{- end -}}"
    )
    (chart / "templates" / "notes.yaml").write_text(
        'kind: Notes\nnotes: {{ include "test.notes" . | toJson }}\n'
    )
    objs = render("--show-only", "templates/notes.yaml", *flags, chart=chart)
    text: str = objs[0]["notes"]
    return text


def exchange_from_notes(notes: str) -> tuple[str, list[Obj]]:
    match = re.search(r"kubectl apply -n (\S+) -f - <<'YAML'\n(.*?)\nYAML\n", notes, re.S)
    assert match, notes
    return match.group(1), [doc for doc in yaml.safe_load_all(match.group(2)) if doc]


def test_notes_print_a_first_exchange(tmp_path: Path) -> None:
    notes = render_notes(tmp_path)
    assert f"deployment/{FULLNAME}" in notes
    assert f"helm test {RELEASE} -n {NAMESPACE} --logs" in notes
    namespace, objs = exchange_from_notes(notes)
    assert namespace == NAMESPACE
    # The printed objects are the project's example ones, plus what follows from values.
    examples = CHART.parents[1] / "examples" / "k8s"
    example = [
        yaml.safe_load((examples / name).read_text())
        for name in ("accounts-secret.yaml", "exchange.yaml")
    ]
    example[1]["spec"]["image"] = {"repository": "dome", "tag": "0.1.0"}
    example[1]["spec"]["metrics"] = {"serviceMonitor": False, "prometheusRule": False}
    assert objs == example
    secret, exchange = objs
    kubernetes_validate.validate(secret, OLDEST_SUPPORTED_KUBERNETES, strict=True)
    assert exchange["spec"]["auth"]["accountsSecret"] == secret["metadata"]["name"]
    assert "accounts.json" in secret["stringData"]
    json.loads(secret["stringData"]["accounts.json"])
    crd = yaml.safe_load((CHART / "crds" / "exchanges.dome.dev.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    assert exchange["apiVersion"] == f"{crd['spec']['group']}/{version['name']}"
    assert exchange["kind"] == crd["spec"]["names"]["kind"]
    # The structural schema is plain JSON Schema but for x-kubernetes-* keys, which
    # jsonschema ignores; CEL rules are the API server's to check.
    jsonschema.validate(exchange, version["schema"]["openAPIV3Schema"])


def test_notes_follow_values(tmp_path: Path) -> None:
    notes = render_notes(
        tmp_path,
        "--set",
        "watchNamespaces={team-a,team-b},image.repository=registry.example.com/dome",
        "--set",
        "metrics.serviceMonitor.enabled=true,replicaCount=0",
    )
    assert "watches Exchanges in team-a, team-b." in notes
    assert "the operator is paused" in notes
    assert f"servicemonitor/{FULLNAME}" in notes
    namespace, (_, exchange) = exchange_from_notes(notes)
    assert namespace == "team-a"
    assert exchange["spec"]["image"] == {"repository": "registry.example.com/dome", "tag": "0.1.0"}
    assert exchange["spec"]["metrics"]["serviceMonitor"] is True
    cluster_wide = render_notes(tmp_path / "cw", "--set", "clusterWide=true")
    assert "watches Exchanges in every namespace." in cluster_wide
    assert exchange_from_notes(cluster_wide)[0] == NAMESPACE
