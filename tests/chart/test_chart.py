"""The Helm chart, rendered by a real helm and judged against Kubernetes' own schemas.

`helm template` runs under a matrix of values; every object it renders (and the CRD, and
the Exchange that NOTES.txt prints) must validate strictly against the API schemas of the
oldest Kubernetes we support, and the chart's promises are checked on the parsed output:
restricted pods, RBAC without wildcards and scoped as asked, values the schema refuses,
and every value documented. helm comes from `make tools`; without it these tests fail
rather than skip, because a chart nobody renders is a chart nobody tested.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from dome_operator.versions import OLDEST_SUPPORTED_KUBERNETES

Obj = dict[str, Any]

CHART = Path(__file__).resolve().parents[2] / "charts" / "dome"
RELEASE = "r1"
NAMESPACE = "dome-system"
FULLNAME = "r1-dome"
HOOK = "helm.sh/hook"

# Kinds the chart may render. Anything else fails the test instead of going unvalidated.
CORE_KINDS = {
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Deployment",
    "Service",
    "ConfigMap",
    "Pod",
    "CustomResourceDefinition",
    "NetworkPolicy",
}

# name -> helm flags. Together they reach every branch of the templates.
MATRIX: dict[str, list[str]] = {
    "defaults": [],
    "cluster-wide": ["--set", "clusterWide=true"],
    "namespaces": ["--set", "watchNamespaces={team-a,team-b,team-c}"],
    "monitoring": [
        "--set",
        "metrics.serviceMonitor.enabled=true,dashboards.enabled=true",
        "--set",
        "metrics.serviceMonitor.labels.release=prometheus,metrics.serviceMonitor.scrapeTimeout=10s",
    ],
    "custom": [
        "--set",
        "image.repository=registry.example.com/dome,image.tag=1.2.3,image.pullPolicy=Always",
        "--set",
        "resources.requests.cpu=1,resources.limits.memory=1Gi,resources.limits.cpu=2",
        "--set",
        "serviceAccount.create=false,serviceAccount.name=dome-operator",
        "--set",
        "imagePullSecrets[0].name=regcred,priorityClassName=system-cluster-critical",
        "--set",
        "extraArgs={--verbose},extraEnv[0].name=DOME_LOG,extraEnv[0].value=debug",
        "--set",
        "nodeSelector.kubernetes\\.io/os=linux,podLabels.team=trading,podAnnotations.a=b",
        "--set",
        "tolerations[0].key=dedicated,tolerations[0].operator=Exists",
        "--set",
        "replicaCount=0,fullnameOverride=dome-operator",
    ],
}


def helm_binary() -> str:
    path = shutil.which("helm")
    if path is None:
        pytest.fail("helm is not on PATH: run `make tools` (it installs .tools/bin/helm)")
    return path


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, timeout=60, check=False
    )


def render(*flags: str, chart: Path = CHART) -> list[Obj]:
    result = run_helm(
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        OLDEST_SUPPORTED_KUBERNETES,
        *flags,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def refused(*flags: str) -> str:
    """helm template's error output for values that must not render."""
    result = run_helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *flags)
    assert result.returncode != 0, f"rendered although it should not: {flags}"
    return result.stderr


def validate(obj: Obj) -> None:
    kind = obj["kind"]
    if kind == "ServiceMonitor":
        check_service_monitor_shape(obj)
        return
    assert kind in CORE_KINDS, f"unexpected kind {kind}"
    kubernetes_validate.validate(obj, OLDEST_SUPPORTED_KUBERNETES, strict=True)


def check_service_monitor_shape(obj: Obj) -> None:
    # kubernetes-validate knows only built-in kinds; the prometheus-operator CRD is not a
    # test dependency, so check the fields this chart sets against its documented types.
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}
    spec = obj["spec"]
    assert set(spec) <= {"selector", "namespaceSelector", "endpoints"}
    assert isinstance(spec["selector"]["matchLabels"], dict)
    assert all(isinstance(ns, str) for ns in spec["namespaceSelector"]["matchNames"])
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
        assert isinstance(endpoint["port"], str)
        assert endpoint["path"].startswith("/")
        for key in ("interval", "scrapeTimeout"):
            if key in endpoint:
                assert re.fullmatch(r"([0-9]+(ms|s|m|h))+", endpoint[key]), endpoint[key]


def of_kind(objs: list[Obj], kind: str, *, hooks: bool = False) -> list[Obj]:
    """Objects of one kind; `helm test` hooks only when asked for."""
    return [
        obj
        for obj in objs
        if obj["kind"] == kind and (HOOK in obj["metadata"].get("annotations", {})) == hooks
    ]


def only(objs: list[Obj], kind: str, *, hooks: bool = False) -> Obj:
    found = of_kind(objs, kind, hooks=hooks)
    assert len(found) == 1, [obj["metadata"]["name"] for obj in found]
    return found[0]


def pod_specs(objs: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for obj in objs:
        if obj["kind"] == "Pod":
            yield obj["metadata"]["name"], obj["spec"]
        elif obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def rules_of(role: Obj) -> list[Obj]:
    rules: list[Obj] = role["rules"]
    return rules


@pytest.fixture(scope="module", params=sorted(MATRIX))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    name: str = request.param
    return name, render(*MATRIX[name])


# --- lint and validation -------------------------------------------------------------


def test_helm_is_installed() -> None:
    assert run_helm("version", "--short").stdout.startswith("v3.")


@pytest.mark.parametrize("case", ["defaults", "monitoring"])
def test_lint_strict(case: str) -> None:
    result = run_helm("lint", "--strict", str(CHART), "--namespace", NAMESPACE, *MATRIX[case])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_object_validates_against_the_oldest_kubernetes(
    rendered: tuple[str, list[Obj]],
) -> None:
    _, objs = rendered
    assert objs
    for obj in objs:
        validate(obj)


def test_chart_floor_is_the_operator_floor() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    major, minor, _ = OLDEST_SUPPORTED_KUBERNETES.split(".")
    assert chart["kubeVersion"] == f">={major}.{minor}.0-0"
    assert chart["appVersion"] == "0.1.0"


def test_crd_comes_with_include_crds_only() -> None:
    without = render()
    assert not of_kind(without, "CustomResourceDefinition")
    crd = only(render("--include-crds"), "CustomResourceDefinition")
    assert crd["metadata"]["name"] == "exchanges.dome.dev"
    validate(crd)


# --- pods -----------------------------------------------------------------------------


def test_every_pod_is_restricted(rendered: tuple[str, list[Obj]]) -> None:
    case, objs = rendered
    specs = list(pod_specs(objs))
    assert len(specs) == 2  # the operator and the `helm test` pod
    for name, spec in specs:
        pod = spec.get("securityContext", {})
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(flag), (name, flag)
        for container in spec["containers"] + spec.get("initContainers", []):
            ctx = container["securityContext"]
            where = (case, name, container["name"])
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in ctx["capabilities"], where
            assert not ctx.get("privileged"), where
            assert ctx.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, where
            seccomp = ctx.get("seccompProfile", pod.get("seccompProfile"))
            assert seccomp == {"type": "RuntimeDefault"}, where
            assert ctx.get("runAsUser", pod.get("runAsUser")) != 0, where


def test_operator_deployment() -> None:
    deployment = only(render(), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "dome:0.1.0"
    assert container["command"] == ["dome-operator"]
    assert container["args"] == [
        "--standalone",
        "--liveness=http://0.0.0.0:8081/healthz",
        "--metrics-port=8080",
        f"--namespace={NAMESPACE}",
    ]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"health": 8081, "metrics": 8080}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_operator_args_follow_the_watch_scope() -> None:
    def args(*flags: str) -> list[str]:
        container = only(render(*flags), "Deployment")["spec"]["template"]["spec"]["containers"]
        return list(container[0]["args"])

    assert args(*MATRIX["cluster-wide"])[3:] == ["--all-namespaces"]
    assert args(*MATRIX["namespaces"])[3:] == [
        "--namespace=team-a",
        "--namespace=team-b",
        "--namespace=team-c",
    ]


def test_custom_values_reach_the_pod() -> None:
    objs = render(*MATRIX["custom"])
    assert not of_kind(objs, "ServiceAccount")
    deployment = only(objs, "Deployment")
    assert deployment["metadata"]["name"] == "dome-operator"
    assert deployment["spec"]["replicas"] == 0
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "dome-operator"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    (container,) = spec["containers"]
    assert container["image"] == "registry.example.com/dome:1.2.3"
    assert container["imagePullPolicy"] == "Always"
    assert container["args"][-1] == "--verbose"
    assert {"name": "DOME_LOG", "value": "debug"} in container["env"]
    assert container["resources"]["limits"] == {"cpu": 2, "memory": "1Gi"}
    for binding in of_kind(objs, "RoleBinding") + of_kind(objs, "ClusterRoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "dome-operator", "namespace": NAMESPACE}
        ]


# --- RBAC -----------------------------------------------------------------------------

# (apiGroup, resource) -> verbs the operator must hold: what it renders for an Exchange,
# what it reads, and what kopf needs. Kept here, not derived from the template, so that a
# change to either side shows up as a test failure.
MANAGE = {"get", "list", "watch", "create", "update", "patch", "delete"}
OPERATOR_NEEDS: dict[tuple[str, str], set[str]] = {
    ("dome.dev", "exchanges"): {"get", "list", "watch", "patch"},
    ("dome.dev", "exchanges/status"): {"patch"},
    ("dome.dev", "exchanges/finalizers"): {"update"},
    ("", "configmaps"): MANAGE,
    ("", "services"): MANAGE,
    ("", "serviceaccounts"): MANAGE,
    ("apps", "deployments"): MANAGE,
    ("apps", "statefulsets"): MANAGE,
    ("policy", "poddisruptionbudgets"): MANAGE,
    ("networking.k8s.io", "networkpolicies"): MANAGE,
    ("rbac.authorization.k8s.io", "roles"): MANAGE,
    ("rbac.authorization.k8s.io", "rolebindings"): MANAGE,
    ("monitoring.coreos.com", "servicemonitors"): MANAGE,
    ("monitoring.coreos.com", "prometheusrules"): MANAGE,
    # Exactly what the discovery pods' Role grants: RBAC only lets the operator grant
    # what it holds.
    ("coordination.k8s.io", "leases"): {"get", "list", "watch", "create", "update", "patch"},
    ("", "events"): {"create"},
    # Each Exchange's peer secret, created once; never read (see below).
    ("", "secrets"): {"create"},
}
CRD_READ: dict[tuple[str, str], set[str]] = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
}


def grants(role: Obj) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs, flattened over the role's rules."""
    table: dict[tuple[str, str], set[str]] = {}
    for rule in rules_of(role):
        assert "resourceNames" not in rule or role["metadata"]["name"].endswith("-test")
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                table.setdefault((group, resource), set()).update(rule["verbs"])
    return table


def test_no_wildcards_or_escalation_verbs(rendered: tuple[str, list[Obj]]) -> None:
    _, objs = rendered
    roles = [obj for obj in objs if obj["kind"] in ("Role", "ClusterRole")]
    assert roles
    for role in roles:
        assert "aggregationRule" not in role
        for rule in rules_of(role):
            assert "nonResourceURLs" not in rule
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                for item in rule.get(key, []):
                    assert "*" not in item, (role["metadata"]["name"], rule)
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule
            # The operator creates peer Secrets but can read none (accounts tokens).
            if "secrets" in rule["resources"]:
                assert set(rule["verbs"]) == {"create"}, rule


@pytest.mark.parametrize("case", ["defaults", "namespaces"])
def test_namespaced_rbac(case: str) -> None:
    objs = render(*MATRIX[case])
    watched = ["team-a", "team-b", "team-c"] if case == "namespaces" else [NAMESPACE]
    # The only ClusterRole reads CRDs: kopf's resource discovery is cluster-scoped.
    cluster_role = only(objs, "ClusterRole")
    assert grants(cluster_role) == CRD_READ
    binding = only(objs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == cluster_role["metadata"]["name"]
    roles = of_kind(objs, "Role")
    assert sorted(role["metadata"]["namespace"] for role in roles) == sorted(watched)
    for role in roles:
        assert grants(role) == OPERATOR_NEEDS
    bindings = of_kind(objs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted(watched)
    for b in bindings:
        assert b["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": FULLNAME,
        }
        assert b["subjects"] == [
            {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
        ]


def test_cluster_wide_rbac() -> None:
    objs = render(*MATRIX["cluster-wide"])
    assert not of_kind(objs, "Role")
    assert not of_kind(objs, "RoleBinding")
    cluster_role = only(objs, "ClusterRole")
    assert grants(cluster_role) == OPERATOR_NEEDS | CRD_READ
    binding = only(objs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == cluster_role["metadata"]["name"] == FULLNAME
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
    ]


def test_rbac_can_be_left_to_an_admin() -> None:
    objs = render("--set", "rbac.create=false")
    for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
        assert not of_kind(objs, kind)


# --- values and their schema ----------------------------------------------------------

SCHEMA_ERROR = "values don't meet the specifications of the schema"


@pytest.mark.parametrize(
    "flags",
    [
        ["--set", "replicaCount=2"],
        ["--set", "image.pullPolicy=Sometimes"],
        ["--set", "watchNamespaces={Not_A_Namespace}"],
        ["--set", "replicas=1"],
        ["--set", "metrics.serviceMonitor.interval=often"],
        ["--set", "clusterWide=yes"],
    ],
    ids=lambda flags: flags[-1],
)
def test_schema_refuses_bad_values(flags: list[str]) -> None:
    assert SCHEMA_ERROR in refused(*flags)


def test_cluster_wide_with_namespaces_is_refused() -> None:
    error = refused("--set", "clusterWide=true,watchNamespaces={team-a}")
    assert "watchNamespaces must be empty when clusterWide is true" in error


def test_existing_service_account_needs_a_name() -> None:
    assert "serviceAccount.name must name an existing" in refused(
        "--set", "serviceAccount.create=false"
    )


def test_defaults_satisfy_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(values, schema)
    assert set(schema["properties"]) - {"global"} == set(values)


def documented_keys() -> list[str]:
    """Dotted paths of the keys in values.yaml that carry a `# --` comment. A key without
    one must be a section whose keys have one; the keys under a documented key are its
    default value, not separate values."""
    keys: list[str] = []
    path: list[tuple[int, str]] = []
    comment: list[str] = []
    skip_deeper_than: int | None = None
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        if not stripped:
            comment = []
            continue
        indent = len(line) - len(line.lstrip())
        if stripped.startswith("#"):
            comment.append(stripped)
            continue
        if skip_deeper_than is not None and indent > skip_deeper_than:
            continue
        skip_deeper_than = None
        match = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*):(.*)", stripped)
        assert match, f"values.yaml: unexpected line {line!r}"
        name, value = match.groups()
        path = [(i, n) for i, n in path if i < indent] + [(indent, name)]
        dotted = ".".join(n for _, n in path)
        if any(c.startswith("# --") for c in comment):
            keys.append(dotted)
            skip_deeper_than = indent
        else:
            assert not value.strip(), f"values.yaml: {dotted} has no '# --' comment"
        comment = []
    return keys


def test_every_value_is_documented_in_values_and_readme() -> None:
    keys = documented_keys()
    assert "image.repository" in keys
    assert "metrics.serviceMonitor.enabled" in keys
    readme = (CHART / "README.md").read_text()
    missing = [key for key in keys if f"`{key}`" not in readme]
    assert not missing, f"charts/dome/README.md does not list {missing}"


# --- monitoring -----------------------------------------------------------------------


def test_monitoring_is_opt_in() -> None:
    objs = render()
    assert not of_kind(objs, "ServiceMonitor")
    assert not of_kind(objs, "Service")
    assert not of_kind(objs, "ConfigMap")


def test_service_monitor_finds_the_operator() -> None:
    objs = render(*MATRIX["monitoring"])
    monitor = only(objs, "ServiceMonitor")
    service = only(objs, "Service")
    deployment = only(objs, "Deployment")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint == {
        "port": "metrics",
        "path": "/metrics",
        "interval": "30s",
        "scrapeTimeout": "10s",
    }
    assert [port["name"] for port in service["spec"]["ports"]] == ["metrics"]
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    # The metrics port the ServiceMonitor scrapes is the one the operator serves them on.
    assert f"--metrics-port={ports['metrics']}" in container["args"]


def test_dashboards_are_labelled_config_maps() -> None:
    # Every committed dashboard (generated by `python -m dashboards.generate`) becomes one
    # ConfigMap the Grafana sidecar loads, only when asked for.
    committed = sorted((CHART / "dashboards").glob("*.json"))
    assert committed
    flags = ["--set", "dashboards.enabled=true,dashboards.namespace=grafana"]
    flags += ["--set", "dashboards.annotations.grafana_folder=DOME"]
    config_maps = of_kind(render(*flags), "ConfigMap")
    assert len(config_maps) == len(committed)
    for config_map, path in zip(config_maps, committed, strict=True):
        validate(config_map)
        assert config_map["metadata"]["name"] == f"{FULLNAME}-dashboard-{path.stem}"
        assert config_map["metadata"]["namespace"] == "grafana"
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "DOME"}
        assert json.loads(config_map["data"][path.name]) == json.loads(path.read_text())
    assert not of_kind(render(), "ConfigMap")


def test_no_placeholder_dashboards_are_committed() -> None:
    folder = CHART / "dashboards"
    for path in folder.glob("*.json") if folder.exists() else []:
        assert json.loads(path.read_text()).get("panels"), f"{path.name} has no panels"


# --- helm test hook -------------------------------------------------------------------


def test_helm_test_hook() -> None:
    objs = render()
    pod = only(objs, "Pod", hooks=True)
    assert pod["metadata"]["annotations"][HOOK] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "dome:0.1.0"
    assert container["command"] == ["python", "-c"]
    script = container["args"][0]
    compile(script, "helm-test", "exec")
    assert "/apis/dome.dev/v1alpha1" in script
    assert f"/namespaces/{NAMESPACE}/deployments/{FULLNAME}" in script
    # Its ServiceAccount may read the operator's Deployment and nothing else.
    account = pod["spec"]["serviceAccountName"]
    role = only(objs, "Role", hooks=True)
    assert rules_of(role) == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": [FULLNAME],
            "verbs": ["get"],
        }
    ]
    binding = only(objs, "RoleBinding", hooks=True)
    assert binding["subjects"][0]["name"] == account
    assert only(objs, "ServiceAccount", hooks=True)["metadata"]["name"] == account
    for obj in (role, binding, pod):
        assert obj["metadata"]["labels"]["app.kubernetes.io/component"] == "test"


# --- NOTES.txt ------------------------------------------------------------------------


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
