"""skaffold.yaml, checked without skaffold or a cluster.

The dev loop only runs where Docker and kind do, so these tests keep it from rotting
here: every path it names exists, the image it builds is the one the chart is told to
run, the chart values it sets exist, the namespaces agree, and the hook that points the
example Exchange at the freshly built image really produces the right patch (run with a
stand-in kubectl that records its arguments).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SKAFFOLD = REPO / "skaffold.yaml"
CHART = REPO / "charts" / "dome"
EXAMPLES = REPO / "examples" / "k8s"

Doc = dict[str, Any]


def configs() -> dict[str, Doc]:
    docs = [doc for doc in yaml.safe_load_all(SKAFFOLD.read_text()) if doc]
    return {doc["metadata"]["name"]: doc for doc in docs}


def chart_config() -> Doc:
    return configs()["dome"]


def exchange_config() -> Doc:
    return configs()["demo-exchange"]


def release() -> Doc:
    (only,) = chart_config()["deploy"]["helm"]["releases"]
    return dict(only)


def hook_script() -> str:
    (hook,) = exchange_config()["deploy"]["kubectl"]["hooks"]["after"]
    command = hook["host"]["command"]
    assert command[:2] == ["sh", "-c"], command
    return str(command[2])


def test_every_config_uses_one_current_schema() -> None:
    versions = {doc["apiVersion"] for doc in configs().values()}
    assert len(versions) == 1, versions
    (version,) = versions
    assert re.fullmatch(r"skaffold/v4beta(1[1-9]|[2-9]\d)", version), version
    assert all(doc["kind"] == "Config" for doc in configs().values())


def test_builds_the_image_from_the_dockerfile_without_pushing() -> None:
    build = chart_config()["build"]
    assert build["local"]["push"] is False
    (artifact,) = build["artifacts"]
    assert artifact["image"] == "dome"
    context = REPO / artifact["context"]
    assert context.resolve() == REPO, "the Dockerfile is built from the repository root"
    assert (context / artifact["docker"]["dockerfile"]).is_file()
    assert (context / ".dockerignore").is_file()


def test_installs_the_chart_with_the_built_image() -> None:
    chart = release()
    assert (REPO / chart["chartPath"] / "Chart.yaml").is_file()
    assert chart["name"] == "dome"
    assert chart["createNamespace"] is True
    (artifact,) = chart_config()["build"]["artifacts"]
    image = artifact["image"]
    assert chart["setValueTemplates"] == {
        "image.repository": f"{{{{.IMAGE_REPO_{image}}}}}",
        "image.tag": f"{{{{.IMAGE_TAG_{image}}}}}",
    }
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for dotted in [*chart["setValueTemplates"], *chart.get("setValues", {})]:
        node: Any = values
        for key in dotted.split("."):
            assert isinstance(node, dict), dotted
            assert key in node, f"{dotted} is not a value of the chart"
            node = node[key]


def test_applies_every_example_manifest_into_the_release_namespace() -> None:
    config = exchange_config()
    listed = config["manifests"]["rawYaml"]
    assert all((REPO / path).is_file() for path in listed), listed
    assert {REPO / path for path in listed} == set(EXAMPLES.glob("*.yaml"))
    assert config["deploy"]["kubectl"]["defaultNamespace"] == release()["namespace"]
    # The chart config comes first: the Exchange needs the CRD the chart installs.
    assert list(configs()) == ["dome", "demo-exchange"]


def test_the_kind_profile_pins_every_config_to_the_kind_cluster() -> None:
    for name, config in configs().items():
        (profile,) = [p for p in config["profiles"] if p["name"] == "kind"]
        patches = {p["path"]: p["value"] for p in profile["patches"]}
        assert patches == {"/deploy/kubeContext": "kind-dome"}, name
        assert profile["activation"] == [{"kubeContext": "kind-dome"}], name


def _helm() -> str:
    found = shutil.which("helm") or shutil.which("helm", path=str(REPO / ".tools" / "bin"))
    if found is None:
        pytest.fail("helm not found: `make tools` puts it in .tools/bin")
    return found


def test_the_hook_names_what_the_chart_and_the_example_create() -> None:
    chart = release()
    command = [_helm(), "template", chart["name"], str(REPO / chart["chartPath"])]
    rendered = subprocess.run(
        [*command, "--namespace", chart["namespace"]],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    deployments = [
        doc["metadata"]["name"]
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] == "Deployment"
    ]
    exchange = yaml.safe_load((EXAMPLES / "exchange.yaml").read_text())
    script = hook_script()
    assert deployments == ["dome"]
    assert "get deployment dome " in script
    assert f"patch exchange {exchange['metadata']['name']} " in script
    assert f"--namespace={chart['namespace']}" in script


@pytest.mark.parametrize(
    ("running", "repository", "tag"),
    [
        ("dome:94a6ee7-dirty", "dome", "94a6ee7-dirty"),
        ("dome:v0.1.0@sha256:" + "a" * 64, "dome", "v0.1.0"),
        ("localhost:5000/team/dome:abc", "localhost:5000/team/dome", "abc"),
    ],
)
def test_the_hook_points_the_exchange_at_the_running_image(
    tmp_path: Path, running: str, repository: str, tag: str
) -> None:
    calls = tmp_path / "calls.jsonl"
    fake = tmp_path / "kubectl"
    # A stand-in kubectl: answers the image for `get`, records every call.
    fake.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"print({running!r}, end='') if 'get' in sys.argv else None\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "SKAFFOLD_KUBE_CONTEXT": "k"}
    subprocess.run(["sh", "-c", hook_script()], env=env, check=True, timeout=30)
    get, patch = [json.loads(line) for line in calls.read_text().splitlines()]
    assert get[:2] == ["--context=k", "--namespace=dome-system"]
    assert patch[:5] == ["--context=k", "--namespace=dome-system", "patch", "exchange", "demo"]
    body = json.loads(patch[patch.index("--patch") + 1])
    assert body == {"spec": {"image": {"repository": repository, "tag": tag}}}
