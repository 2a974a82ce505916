"""spec.fix: the operator renders the FIX gateway, and status.fix reports it.

The golden file pins the whole render; these tests state the properties that matter:
one gateway pod with a volume of its own (sequence numbers survive restarts, and never
two pods on one session store), the FIX port opened by a NetworkPolicy beside the
exchange's default deny, TLS flags only where a Secret is named, metrics scraped, nothing
at all without spec.fix.enabled, and a status that follows the gateway's readiness.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from operator_helpers import GOOD_EXCHANGES, as_admitted, load_yaml

from dome_operator import render
from dome_operator.exchange import InvalidExchange
from dome_operator.metadata import METRICS_LABEL
from dome_operator.placement import Unavailable
from dome_operator.render import SERVICE_MONITOR_API
from dome_operator.status import Children, FixGatewayState, exchange_status

SOURCE = GOOD_EXCHANGES / "fix-gateway.yaml"


def exchange(**fix: Any) -> dict[str, Any]:
    document: dict[str, Any] = as_admitted(load_yaml(SOURCE))
    document["spec"]["fix"].update(fix)
    return document


def by_kind(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def test_the_gateway_is_one_pod_with_its_own_volume() -> None:
    objects = render(exchange())
    gateway = by_kind(objects, "StatefulSet", "fixed-fix")
    spec = gateway["spec"]
    assert spec["replicas"] == 1
    assert spec["serviceName"] == "fixed-fix"
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    (container,) = spec["template"]["spec"]["containers"]
    args = container["args"]
    assert args[:3] == ["fix", "--discovery", "fixed-discovery.trading.svc:7000"]
    data_dir = args[args.index("--data-dir") + 1]
    assert {"name": "data", "mountPath": data_dir} in container["volumeMounts"]
    assert args[args.index("--fix-tls-dir") + 1] == "/etc/dome/fix-tls"
    assert args[args.index("--tls-dir") + 1] == "/etc/dome/tls"
    assert {"name": "fix", "containerPort": 9878, "protocol": "TCP"} in container["ports"]
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {
        "fix-tokens": "fixed-fix-tokens",
        "tls": "fixed-tls",
        "fix-tls": "fixed-fix-tls",
    }


def test_the_fix_port_is_opened_and_scraped() -> None:
    objects = render(exchange(port=9443))
    policy = by_kind(objects, "NetworkPolicy", "fixed-fix")
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "fix"
    assert policy["spec"]["ingress"] == [{"ports": [{"port": 9443, "protocol": "TCP"}]}]
    # The exchange's default deny selects the gateway's pod too.
    deny = by_kind(objects, "NetworkPolicy", "fixed-default-deny")
    labels = by_kind(objects, "StatefulSet", "fixed-fix")["spec"]["template"]["metadata"]
    assert deny["spec"]["podSelector"]["matchLabels"].items() <= labels["labels"].items()
    service = by_kind(objects, "Service", "fixed-fix")
    assert service["metadata"]["labels"][METRICS_LABEL] == "true"
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "fix": 9443,
        "metrics": 9100,
    }


def test_the_service_monitor_scrapes_the_gateway() -> None:
    objects = render(exchange(), available_apis=frozenset({SERVICE_MONITOR_API}))
    monitor = by_kind(objects, "ServiceMonitor", "fixed")
    wanted = monitor["spec"]["selector"]["matchLabels"]
    scraped = [
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "Service" and wanted.items() <= o["metadata"]["labels"].items()
    ]
    assert "fixed-fix" in scraped
    (endpoint,) = monitor["spec"]["endpoints"]
    service = by_kind(objects, "Service", "fixed-fix")
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}


def test_no_tls_secret_means_no_tls_flag() -> None:
    document = exchange()
    del document["spec"]["fix"]["tlsSecretName"]
    (container,) = by_kind(render(document), "StatefulSet", "fixed-fix")["spec"]["template"][
        "spec"
    ]["containers"]
    assert "--fix-tls-dir" not in container["args"]


def test_without_enabled_nothing_is_rendered() -> None:
    document = exchange(enabled=False)
    names = [o["metadata"]["name"] for o in render(document)]
    assert not [name for name in names if name.startswith("fixed-fix")]


@pytest.mark.parametrize("port", [80, 9100, 70000])
def test_a_bad_port_is_refused(port: int) -> None:
    with pytest.raises(InvalidExchange, match=r"spec\.fix\.port"):
        render(exchange(port=port))


def status(document: dict[str, Any], fix: FixGatewayState | None) -> dict[str, Any]:
    return exchange_status(
        document,
        Children(None, False, fix),
        degraded=None,
        placement=Unavailable("not asked"),
        endpoint=None,
        selector=None,
        generation=1,
        now="2026-01-01T00:00:00Z",
        fix_endpoint="fixed-fix.trading.svc:9878" if fix is not None else None,
    )


def test_status_fix_follows_the_gateway_and_goes_when_it_is_switched_off() -> None:
    document = exchange()
    starting = status(document, FixGatewayState(exists=True, ready=False))["fix"]
    assert starting["ready"] is False
    assert starting["endpoint"] == "fixed-fix.trading.svc:9878"
    ready = status(document, FixGatewayState(exists=True, ready=True))["fix"]
    assert ready == {
        "ready": True,
        "endpoint": "fixed-fix.trading.svc:9878",
        "message": "accepting FIX sessions",
    }
    off = copy.deepcopy(document)
    off["spec"]["fix"]["enabled"] = False
    off["status"] = {"fix": ready}
    assert status(off, None)["fix"] is None  # a merge patch with null removes it
    assert "fix" not in status(exchange(enabled=False), None)
