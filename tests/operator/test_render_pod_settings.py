"""spec.pods and spec.service reach every pod and the client Service, and nothing else.

The pod-settings Exchange (tests/operator/exchanges/pod-settings.yaml) sets each field;
the example sets none, and its pods must carry none of them (the golden files hold the
rest). The operator's own labels and annotations stay as they were.
"""

from __future__ import annotations

from typing import Any

import pytest
from operator_helpers import GOOD_EXCHANGES, as_admitted, load_yaml
from render_cases import CASES

from dome_operator import InvalidExchange, render

SETTINGS = load_yaml(GOOD_EXCHANGES / "pod-settings.yaml")["spec"]
SCHEDULING = ("nodeSelector", "tolerations", "affinity", "priorityClassName", "imagePullSecrets")


def _by_name(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def _templates(objects: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    found = _by_name(objects)
    return [
        found[("Deployment", f"{name}-discovery")]["spec"]["template"],
        found[("StatefulSet", f"{name}-engine")]["spec"]["template"],
    ]


def _case(name: str) -> list[dict[str, Any]]:
    (case,) = [c for c in CASES if c.name == name]
    return case.render()


def test_every_pod_gets_the_scheduling_settings_and_metadata() -> None:
    pods = SETTINGS["pods"]
    for template in _templates(_case("pod-settings"), "placed"):
        spec = template["spec"]
        assert spec["nodeSelector"] == pods["nodeSelector"]
        assert spec["tolerations"] == pods["tolerations"]
        # Discovery adds its replicas' preferred anti-affinity where spec.pods has none.
        assert spec["affinity"].items() >= pods["affinity"].items()
        assert spec["priorityClassName"] == pods["priorityClassName"]
        assert spec["imagePullSecrets"] == pods["imagePullSecrets"]
        metadata = template["metadata"]
        assert metadata["labels"].items() >= pods["labels"].items()
        assert metadata["annotations"].items() >= pods["annotations"].items()
        # The operator's own are all still there.
        assert metadata["labels"]["app.kubernetes.io/instance"] == "placed"
        assert "kubectl.kubernetes.io/default-container" in metadata["annotations"]


def test_engines_spread_over_zones_and_nodes_and_discovery_is_sized() -> None:
    objects = _by_name(_case("pod-settings"))
    engine_pod = objects[("StatefulSet", "placed-engine")]["spec"]["template"]["spec"]
    keys = [c["topologyKey"] for c in engine_pod["topologySpreadConstraints"]]
    assert keys == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    discovery = objects[("Deployment", "placed-discovery")]["spec"]["template"]["spec"]
    (container,) = discovery["containers"]
    assert container["resources"] == SETTINGS["discovery"]["resources"]
    assert container["image"] == "registry.example.com/trading/dome:0.1.0"


def test_only_the_client_service_gets_the_service_metadata() -> None:
    services = [o for o in _case("pod-settings") if o["kind"] == "Service"]
    extra = SETTINGS["service"]["annotations"]
    with_extra = [
        s["metadata"]["name"]
        for s in services
        if extra.items() <= s["metadata"].get("annotations", {}).items()
    ]
    assert with_extra == ["placed"]
    (client,) = [s for s in services if s["metadata"]["name"] == "placed"]
    assert client["metadata"]["labels"]["example.com/exposed"] == "internal"
    assert client["metadata"]["labels"]["app.kubernetes.io/instance"] == "placed"


def test_without_settings_the_pods_have_none_and_one_spread() -> None:
    discovery, engine = _templates(_case("example"), "demo")
    assert not set(SCHEDULING) & set(engine["spec"]), engine["spec"].keys()
    # Discovery's own: its replicas' preferred anti-affinity (test_render_discovery_replicas).
    assert set(SCHEDULING) & set(discovery["spec"]) <= {"affinity"}
    assert list(discovery["spec"]["affinity"]) == ["podAntiAffinity"]
    objects = _by_name(_case("example"))
    engine_pod = objects[("StatefulSet", "demo-engine")]["spec"]["template"]["spec"]
    assert [c["topologyKey"] for c in engine_pod["topologySpreadConstraints"]] == [
        "kubernetes.io/hostname"
    ]


@pytest.mark.parametrize(
    ("pods", "message"),
    [
        ({"annotations": {"dome.dev/instruments-checksum": "x"}}, "keys are the operator's"),
        ({"nodeSelector": {"pool": 3}}, "spec.pods.nodeSelector: expected string"),
        ({"imagePullSecrets": ["regcred"]}, "spec.pods.imagePullSecrets"),
        ({"zoneSpread": "yes"}, "spec.pods.zoneSpread"),
    ],
)
def test_bad_pod_settings_are_refused_by_name(pods: dict[str, Any], message: str) -> None:
    exchange = as_admitted(load_yaml(GOOD_EXCHANGES / "minimal.yaml"))
    exchange["spec"]["pods"] = pods
    with pytest.raises(InvalidExchange, match=message):
        render(exchange)
