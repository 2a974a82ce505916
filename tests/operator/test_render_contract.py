"""What every render must be, whatever the Exchange: valid for the oldest supported
Kubernetes, labelled, owned, deterministic, pure, and consistent with itself."""

from __future__ import annotations

import copy
import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from operator_helpers import UID, schema_errors
from render_cases import CASES, RenderCase

from dome.discovery.records import Acks
from dome.discovery.runtime_config import RuntimeConfig, parse_config
from dome.instrument_spec import load_instruments
from dome_operator import (
    OLDEST_SUPPORTED_KUBERNETES,
    InvalidExchange,
    read_exchange,
    render,
    selector,
    status_endpoint,
)
from dome_operator.alerts import RULE_GROUPS
from dome_operator.render import PROMETHEUS_RULE_API, SERVICE_MONITOR_API

STANDARD_LABEL_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
}
#: Custom resources, whose schema is not among Kubernetes' own; checked by shape below.
NOT_IN_KUBERNETES_SCHEMAS = {"ServiceMonitor", "PrometheusRule"}
MONITORING = frozenset({SERVICE_MONITOR_API, PROMETHEUS_RULE_API})
#: A vector selector's label matchers, e.g. ``{job="x",namespace="y"}``.
_MATCHERS = re.compile(r"\b(?:dome_[a-z0-9_]+|up)\s*\{([^}]*)\}")


def _rendered(case: RenderCase) -> list[dict[str, Any]]:
    return case.render()


def _one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


def _example() -> dict[str, Any]:
    return CASES[0].exchange()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_every_object_validates_against_the_oldest_kubernetes(case: RenderCase) -> None:
    for obj in _rendered(case):
        if obj["kind"] not in NOT_IN_KUBERNETES_SCHEMAS:
            kubernetes_validate.validate(obj, OLDEST_SUPPORTED_KUBERNETES, strict=True)


def test_strict_validation_would_catch_a_misspelt_field() -> None:
    statefulset = _one(render(_example()), "StatefulSet")
    statefulset["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, OLDEST_SUPPORTED_KUBERNETES, strict=True)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_every_object_is_labelled_and_owned_by_the_exchange(case: RenderCase) -> None:
    exchange = case.exchange()
    for obj in _rendered(case):
        metadata = obj["metadata"]
        labels = metadata["labels"]
        assert set(labels) >= STANDARD_LABEL_KEYS, obj["kind"]
        assert labels["app.kubernetes.io/instance"] == exchange["metadata"]["name"]
        assert labels["app.kubernetes.io/component"] in {"engine", "discovery", "fix", "exchange"}
        assert metadata["namespace"] == exchange["metadata"]["namespace"]
        assert metadata["ownerReferences"] == [
            {
                "apiVersion": "dome.dev/v1alpha1",
                "kind": "Exchange",
                "name": exchange["metadata"]["name"],
                "uid": UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_pod_templates_carry_the_labels_their_selectors_select(case: RenderCase) -> None:
    for obj in _rendered(case):
        if obj["kind"] in ("Deployment", "StatefulSet"):
            pod_labels = obj["spec"]["template"]["metadata"]["labels"]
            assert set(pod_labels) >= STANDARD_LABEL_KEYS
            assert obj["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_render_is_deterministic_and_leaves_its_input_alone() -> None:
    for case in CASES:
        exchange = case.exchange()
        before = copy.deepcopy(exchange)
        options: dict[str, Any] = {
            "available_apis": case.available_apis,
            "operator_namespace": case.operator_namespace,
        }
        first = render(exchange, **options)
        assert exchange == before
        assert render(exchange, **options) == first
        for obj in first:  # no shared, cached objects
            obj["metadata"]["labels"]["mutated"] = "yes"
            for group in obj.get("spec", {}).get("groups", []):
                group["rules"][0]["labels"]["mutated"] = "yes"
        again = render(exchange, **options)
        assert all("mutated" not in obj["metadata"]["labels"] for obj in again)
        assert all("mutated" not in group["rules"][0]["labels"] for group in RULE_GROUPS)


def test_objects_come_in_creation_order() -> None:
    kinds = [obj["kind"] for obj in render(_example())]
    assert kinds.index("ConfigMap") < kinds.index("StatefulSet")
    assert kinds.index("RoleBinding") < kinds.index("Deployment")
    assert kinds.index("ServiceAccount") < kinds.index("Deployment")


def test_instruments_config_map_is_a_file_the_engine_loads(tmp_path: Path) -> None:
    exchange = _example()
    config_map = _one(render(exchange), "ConfigMap", "demo-instruments")
    path = tmp_path / "instruments.json"
    path.write_text(config_map["data"]["instruments.json"])
    assert tuple(load_instruments(path).values()) == read_exchange(exchange).instruments


def test_instrument_changes_roll_the_engines_and_nothing_else_does() -> None:
    def checksums(exchange: dict[str, Any]) -> list[str]:
        return [
            obj["spec"]["template"]["metadata"]["annotations"]["dome.dev/instruments-checksum"]
            for obj in render(exchange)
            if obj["kind"] == "StatefulSet"
        ]

    exchange = _example()
    original = checksums(exchange)
    content = _one(render(exchange), "ConfigMap", "demo-instruments")["data"]["instruments.json"]
    assert original == [hashlib.sha256(content.encode()).hexdigest()]
    exchange["spec"]["engines"] = 5
    assert checksums(exchange) == original
    exchange["spec"]["instruments"][0]["maxQty"] = "500"
    assert checksums(exchange) != original


def test_discoverys_pod_template_does_not_change_with_scale_instruments_or_replication() -> None:
    """Those go to discovery's ConfigMap, which it follows while running: changing them
    must not restart the placement authority of the whole exchange."""

    def discovery(exchange: dict[str, Any]) -> tuple[dict[str, Any], RuntimeConfig]:
        objects = render(exchange)
        template = _one(objects, "Deployment", "demo-discovery")["spec"]["template"]
        document = _one(objects, "ConfigMap", "demo-discovery")["data"]["discovery.json"]
        return template, parse_config(document)

    exchange = _example()
    template, config = discovery(exchange)
    symbols = tuple(sorted(i["symbol"] for i in exchange["spec"]["instruments"]))
    assert config == RuntimeConfig(symbols, 3, Acks.ALL, 3)
    exchange["spec"]["engines"] = 5
    exchange["spec"]["replication"] = {"factor": 5, "acks": "majority"}
    added = {**exchange["spec"]["instruments"][0], "symbol": "NEW-USD", "maxQty": "7"}
    exchange["spec"]["instruments"].append(added)
    changed_template, changed = discovery(exchange)
    assert changed_template == template
    assert changed == RuntimeConfig(tuple(sorted((*symbols, "NEW-USD"))), 5, Acks.MAJORITY, 5)


def test_replication_factor_defaults_to_three_or_the_engine_count() -> None:
    exchange = _example()
    del exchange["spec"]["replication"]
    for engines, factor in ((1, 1), (2, 2), (3, 3), (7, 3)):
        exchange["spec"]["engines"] = engines
        assert read_exchange(exchange).replication_factor == factor


def test_service_monitor_needs_both_the_switch_and_the_api() -> None:
    exchange = _example()
    apis = frozenset({SERVICE_MONITOR_API})
    assert "ServiceMonitor" not in {o["kind"] for o in render(exchange, available_apis=apis)}
    exchange["spec"]["metrics"] = {"serviceMonitor": True}
    assert "ServiceMonitor" not in {o["kind"] for o in render(exchange)}
    assert "ServiceMonitor" in {o["kind"] for o in render(exchange, available_apis=apis)}


def test_service_monitor_scrapes_the_metrics_port_of_discovery_and_engines_once() -> None:
    exchange = _example()
    exchange["spec"]["metrics"] = {"serviceMonitor": True}
    objects = render(exchange, available_apis=frozenset({SERVICE_MONITOR_API}))
    monitor = _one(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    wanted = monitor["spec"]["selector"]["matchLabels"].items()
    services = [obj for obj in objects if obj["kind"] == "Service"]
    selected = [obj for obj in services if wanted <= obj["metadata"]["labels"].items()]
    assert sorted(s["spec"]["selector"]["app.kubernetes.io/component"] for s in selected) == [
        "discovery",
        "engine",
    ]
    (endpoint,) = monitor["spec"]["endpoints"]
    for service in selected:
        assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["trading"]}


def test_status_helpers_name_the_client_service_and_the_engine_pods() -> None:
    exchange = _example()
    objects = render(exchange)
    assert status_endpoint(exchange) == "demo.trading.svc:7100"
    client = _one(objects, "Service", "demo")
    assert client["spec"]["ports"][0]["port"] == 7100
    statefulset = _one(objects, "StatefulSet")
    pairs = dict(part.split("=") for part in selector(exchange).split(","))
    assert pairs == statefulset["spec"]["selector"]["matchLabels"]


def test_engine_pods_are_hardened_and_only_discovery_gets_an_api_token() -> None:
    objects = render(_example())
    for kind, token in (("StatefulSet", False), ("Deployment", True)):
        pod = _one(objects, kind)["spec"]["template"]["spec"]
        # Never automounted: a pod that calls the API mounts a bound token explicitly.
        assert pod["automountServiceAccountToken"] is False
        projected = [v for v in pod["volumes"] if "projected" in v]
        mounts = [m["mountPath"] for m in pod["containers"][0]["volumeMounts"]]
        assert bool(projected) is token
        assert ("/var/run/secrets/kubernetes.io/serviceaccount" in mounts) is token
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = pod["containers"]
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
    role = _one(objects, "Role")
    assert all("*" not in value for rule in role["rules"] for value in rule.values())


def test_network_policies_deny_by_default_in_and_out() -> None:
    objects = render(_example())
    deny = _one(objects, "NetworkPolicy", "demo-default-deny")["spec"]
    assert deny["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "dome",
        "app.kubernetes.io/instance": "demo",
    }
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    allow = _one(objects, "NetworkPolicy", "demo")["spec"]
    # Out: the exchange's own pods and DNS; only discovery may also reach the API server.
    assert allow["egress"] == [
        {"to": [{"podSelector": {"matchLabels": deny["podSelector"]["matchLabels"]}}]},
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
    ]
    api = _one(objects, "NetworkPolicy", "demo-discovery")["spec"]
    assert api["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "discovery"
    assert api["egress"] == [
        {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}
    ]


def test_network_policy_opens_only_trading_and_scraping_to_other_pods() -> None:
    policy = _one(render(_example()), "NetworkPolicy", "demo")
    open_ports = sorted(
        port["port"] for rule in policy["spec"]["ingress"] if "from" not in rule
        for port in rule["ports"]
    )  # fmt: skip
    assert open_ports == [7100, 9100]


def test_network_policy_opens_the_peer_port_to_the_exchanges_engines_only() -> None:
    """Replication (the peer port, 7200) is reached only from this exchange's engine pods.

    NetworkPolicy allows add up, across rules and policies: the peer port must appear in
    exactly one rule of all the exchange's policies, whose only peers are pods with the
    engines' selector labels (the FIX gateway and discovery carry the exchange's instance
    labels but another component, so they do not match). The other pods of the exchange
    reach discovery's port and the client port as before. Whether a CNI enforces it is
    not tested here (no CNI runs in tests/kube).
    """
    objects = render(_example())
    engines = _one(objects, "StatefulSet")
    (container,) = engines["spec"]["template"]["spec"]["containers"]
    assert {"name": "peer", "containerPort": 7200, "protocol": "TCP"} in container["ports"]
    engine_labels = engines["spec"]["template"]["metadata"]["labels"]
    rules = [
        (policy["metadata"]["name"], rule)
        for policy in objects
        if policy["kind"] == "NetworkPolicy"
        for rule in policy["spec"].get("ingress", [])
    ]
    reaching_peer = [
        (name, rule)
        for name, rule in rules
        if "ports" not in rule or any(p["port"] == 7200 for p in rule["ports"])
    ]
    ((name, peer_rule),) = reaching_peer
    assert name == "demo"
    assert peer_rule["ports"] == [{"port": 7200, "protocol": "TCP"}]
    (source,) = peer_rule["from"]
    assert set(source) == {"podSelector"}  # this namespace only
    selector = source["podSelector"]["matchLabels"]
    assert selector == {
        "app.kubernetes.io/name": "dome",
        "app.kubernetes.io/instance": "demo",
        "app.kubernetes.io/component": "engine",
    }
    assert selector.items() <= engine_labels.items()  # the engines match it
    discovery = _one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= discovery.items()  # discovery does not
    # The exchange's other pods: discovery's port and the client port, nothing else.
    (own,) = [
        rule
        for _, rule in rules
        if rule.get("from") == [{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "dome", "app.kubernetes.io/instance": "demo"}}}]
    ]  # fmt: skip
    assert own["ports"] == [{"port": 7000, "protocol": "TCP"}, {"port": 7100, "protocol": "TCP"}]
    # The headless Service names the peer port; the client Service does not.
    headless = _one(objects, "Service", "demo-engine-headless")
    assert {"name": "peer", "port": 7200, "targetPort": "peer", "protocol": "TCP"} in headless[
        "spec"
    ]["ports"]
    assert [p["port"] for p in _one(objects, "Service", "demo")["spec"]["ports"]] == [7100]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda x: x["spec"].__setitem__("engines", True), "spec.engines: expected int"),
        (lambda x: x["spec"].__setitem__("replication", "all"), "spec.replication: expected"),
        (lambda x: x["spec"].pop("auth"), "spec.auth is required"),
        (lambda x: x["metadata"].pop("uid"), "metadata.uid is required"),
        (lambda x: x["spec"]["instruments"][0].__setitem__("tick", "1"), "unknown fields"),
        (lambda x: x["spec"].__setitem__("resources", {"limits": {"cpu": 1.5}}), "quantity"),
    ],
    ids=["bool-engines", "scalar-section", "no-auth", "no-uid", "unknown-field", "float-cpu"],
)
def test_malformed_exchanges_raise_invalid_exchange(change: Any, message: str) -> None:
    exchange = _example()
    change(exchange)
    with pytest.raises(InvalidExchange, match=message):
        render(exchange)


def test_network_policy_lets_only_the_operators_pods_ask_discovery() -> None:
    (case,) = [case for case in CASES if case.operator_namespace is not None]
    policy = _one(case.render(), "NetworkPolicy", "demo")
    (operator_rule,) = [
        rule
        for rule in policy["spec"]["ingress"]
        if "from" in rule and "namespaceSelector" in rule["from"][0]
    ]
    assert operator_rule["ports"] == [{"port": 7000, "protocol": "TCP"}]
    (peer,) = operator_rule["from"]
    assert peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": case.operator_namespace}
    }
    # The labels the chart's operator pods carry (charts/dome/templates/_helpers.tpl).
    assert peer["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/component": "operator",
        "app.kubernetes.io/part-of": "dome",
    }
    # Outside the cluster the operator reaches pods through the API server: no rule.
    unplaced = _one(render(case.exchange()), "NetworkPolicy", "demo")
    assert all("namespaceSelector" not in str(rule) for rule in unplaced["spec"]["ingress"])


def test_prometheus_rule_needs_both_the_switch_and_the_api() -> None:
    exchange = _example()
    assert "PrometheusRule" not in {o["kind"] for o in render(exchange, available_apis=MONITORING)}
    exchange["spec"]["metrics"] = {"prometheusRule": True}
    assert "PrometheusRule" not in {o["kind"] for o in render(exchange)}
    kinds = [o["kind"] for o in render(exchange, available_apis=MONITORING)]
    assert kinds.count("PrometheusRule") == 1
    assert "ServiceMonitor" not in kinds  # each switch on its own


def _prometheus_rule() -> dict[str, Any]:
    exchange = _example()
    exchange["spec"]["metrics"] = {"prometheusRule": True}
    return _one(render(exchange, available_apis=MONITORING), "PrometheusRule")


def test_prometheus_rule_has_the_shape_the_prometheus_operator_reads() -> None:
    # kubernetes-validate knows only built-in kinds and the prometheus-operator CRD is not
    # a test dependency (as for the ServiceMonitor): check the documented fields here and
    # the rules themselves with promtool below.
    rule = _prometheus_rule()
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(rule) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(rule["spec"]) == {"groups"}
    names = [group["name"] for group in rule["spec"]["groups"]]
    assert len(names) == len(set(names)), "group names must be unique within a PrometheusRule"
    for group in rule["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules"}
        for item in group["rules"]:
            assert set(item) <= {"alert", "record", "expr", "for", "labels", "annotations"}
            assert isinstance(item["expr"], str)
            assert all(isinstance(v, str) for v in item.get("labels", {}).values())
            assert all(isinstance(v, str) for v in item.get("annotations", {}).values())
    alerts = [item["alert"] for group in rule["spec"]["groups"] for item in group["rules"]]
    assert alerts == [
        "DomeCommitSlow",
        "DomeEngineDown",
        "DomeFailoverStorm",
        "DomeNoPrimary",
        "DomeReplicationLagging",
        "DomeSequenceGap",
    ]


def test_prometheus_rule_watches_this_exchanges_engines_and_discovery_only() -> None:
    rule = _prometheus_rule()
    ours = {
        'job="demo-engine-headless",namespace="trading"',
        'job="demo-discovery",namespace="trading"',
    }
    for group in rule["spec"]["groups"]:
        for item in group["rules"]:
            matchers = _MATCHERS.findall(item["expr"])
            assert matchers, item["expr"]
            for found in matchers:
                assert found in ours, item["expr"]


def test_promtool_accepts_the_prometheus_rule_and_it_fires_for_this_exchange_only(
    tmp_path: Path,
) -> None:
    """The spec is a rule file: promtool checks it, then a unit test runs DomeEngineDown
    over this exchange's engine, another exchange's and one in another namespace."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(_prometheus_rule()["spec"]))
    down = "0x12"
    series = [
        {"series": _up("demo-engine-headless", "trading", "a"), "values": down},
        {"series": _up("prod-engine-headless", "trading", "b"), "values": down},
        {"series": _up("demo-engine-headless", "other", "c"), "values": down},
    ]
    only_ours = {
        "exp_labels": {
            "severity": "critical",
            "job": "demo-engine-headless",
            "namespace": "trading",
            "instance": "a",
        },
        "exp_annotations": {
            "summary": "DOME engine a (demo-engine-headless) is down",
            "description": (
                "Prometheus has not scraped the DOME engine a (job demo-engine-headless, "
                "namespace trading) for more than a minute. Orders for the symbols it holds "
                "are not being matched."
            ),
            "runbook_url": "docs/runbooks/DomeEngineDown.md",
        },
    }
    checks = [{"eval_time": "2m", "alertname": "DomeEngineDown", "exp_alerts": [only_ours]}]
    unit = tmp_path / "unit.yaml"
    unit.write_text(
        yaml.safe_dump(
            {
                "rule_files": [rules.name],
                "evaluation_interval": "15s",
                "tests": [{"interval": "15s", "input_series": series, "alert_rule_test": checks}],
            }
        )
    )
    for command in (["check", "rules", str(rules)], ["test", "rules", str(unit)]):
        result = subprocess.run(
            [_promtool(), *command], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert result.returncode == 0, result.stdout + result.stderr


def _up(job: str, namespace: str, instance: str) -> str:
    return f'up{{job="{job}", namespace="{namespace}", instance="{instance}"}}'


def _promtool() -> str:
    """Its absence fails, as in tests/monitoring: Debian's prometheus package has it."""
    found = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    if found is None:
        pytest.fail("promtool not found: install the Debian prometheus package (make prometheus)")
    return found


def test_an_image_pinned_by_digest_runs_by_digest_and_a_bad_digest_is_refused() -> None:
    digest = "sha256:" + "ab" * 32
    exchange = _example()
    exchange["spec"]["image"] = {"repository": "registry.example.com/dome", "digest": digest}
    assert not schema_errors(exchange)
    for kind in ("StatefulSet", "Deployment"):
        workload = _one(render(exchange), kind)
        (container,) = workload["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"registry.example.com/dome@{digest}"
        # Nothing left to excuse about the image.
        skips = workload["metadata"].get("annotations", {}).values()
        assert not [s for s in skips if s.startswith(("CKV_K8S_43", "CKV_K8S_15"))]
    exchange["spec"]["image"]["digest"] = "sha256:short"
    assert schema_errors(exchange)
    with pytest.raises(InvalidExchange, match=r"spec\.image\.digest"):
        render(exchange)
