"""What every render must be, whatever the Exchange: valid for the oldest supported
Kubernetes, labelled, owned, deterministic, pure, and consistent with itself."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from operator_helpers import UID
from render_cases import CASES, RenderCase

from dome.instruments import load_instruments
from dome_operator import (
    OLDEST_SUPPORTED_KUBERNETES,
    InvalidExchange,
    read_exchange,
    render,
    selector,
    status_endpoint,
)
from dome_operator.render import SERVICE_MONITOR_API

STANDARD_LABEL_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
}
#: Custom resources, whose schema is not among Kubernetes' own; checked by shape below.
NOT_IN_KUBERNETES_SCHEMAS = {"ServiceMonitor"}


def _rendered(case: RenderCase) -> list[dict[str, Any]]:
    return render(case.exchange(), available_apis=case.available_apis)


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
        assert labels["app.kubernetes.io/component"] in {"engine", "discovery", "exchange"}
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
        first = render(exchange, available_apis=case.available_apis)
        assert exchange == before
        assert render(exchange, available_apis=case.available_apis) == first
        first[0]["metadata"]["labels"]["mutated"] = "yes"  # no shared, cached objects
        assert "mutated" not in render(exchange)[0]["metadata"]["labels"]


def test_objects_come_in_creation_order() -> None:
    kinds = [obj["kind"] for obj in render(_example())]
    assert kinds.index("ConfigMap") < kinds.index("StatefulSet")
    assert kinds.index("RoleBinding") < kinds.index("Deployment")
    assert kinds.index("ServiceAccount") < kinds.index("Deployment")


def test_instruments_config_map_is_a_file_the_engine_loads(tmp_path: Path) -> None:
    exchange = _example()
    config_map = _one(render(exchange), "ConfigMap")
    path = tmp_path / "instruments.json"
    path.write_text(config_map["data"]["instruments.json"])
    assert tuple(load_instruments(path).values()) == read_exchange(exchange).instruments


def test_instrument_changes_roll_both_workloads_and_nothing_else_does() -> None:
    def checksums(exchange: dict[str, Any]) -> list[str]:
        return [
            obj["spec"]["template"]["metadata"]["annotations"]["dome.dev/instruments-checksum"]
            for obj in render(exchange)
            if obj["kind"] in ("Deployment", "StatefulSet")
        ]

    exchange = _example()
    original = checksums(exchange)
    content = _one(render(exchange), "ConfigMap")["data"]["instruments.json"]
    assert original == [hashlib.sha256(content.encode()).hexdigest()] * 2
    exchange["spec"]["engines"] = 5
    assert checksums(exchange) == original
    exchange["spec"]["instruments"][0]["maxQty"] = "500"
    assert checksums(exchange) != original


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
        assert pod["automountServiceAccountToken"] is token
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = pod["containers"]
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
    role = _one(objects, "Role")
    assert all("*" not in value for rule in role["rules"] for value in rule.values())


def test_network_policy_opens_only_trading_and_scraping_to_other_pods() -> None:
    policy = _one(render(_example()), "NetworkPolicy")
    open_ports = sorted(
        port["port"] for rule in policy["spec"]["ingress"] if "from" not in rule
        for port in rule["ports"]
    )  # fmt: skip
    assert open_ports == [7100, 9100]
    (own_pods,) = [rule for rule in policy["spec"]["ingress"] if "from" in rule]
    assert "ports" not in own_pods


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
