"""spec.service.external: the client port exposed outside the cluster, and only then.

The external Service selects the engines as the client Service does, on the same port,
and carries spec.service's metadata (a load balancer's annotations); its address, once a
load balancer has one, becomes status.endpoint (test_handlers_external.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from operator_helpers import EXAMPLES, as_admitted, load_yaml

from dome_operator import InvalidExchange, render
from dome_operator.placement import Unavailable
from dome_operator.status import Children, exchange_status


def _exchange(service: dict[str, Any] | None) -> dict[str, Any]:
    exchange = as_admitted(load_yaml(EXAMPLES / "exchange.yaml"))
    if service is not None:
        exchange["spec"]["service"] = service
    return exchange


def _services(service: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in render(_exchange(service)) if o["kind"] == "Service"}


def test_no_external_service_unless_asked() -> None:
    assert "demo-external" not in _services(None)
    assert "demo-external" not in _services({"annotations": {"example.com/a": "b"}})


@pytest.mark.parametrize("kind", ["LoadBalancer", "NodePort"])
def test_the_external_service_exposes_the_client_port(kind: str) -> None:
    services = _services({"external": kind, "annotations": {"example.com/lb": "internal"}})
    external, client = services["demo-external"], services["demo"]
    assert external["spec"]["type"] == kind
    assert external["spec"]["selector"] == client["spec"]["selector"]
    assert external["spec"]["ports"] == client["spec"]["ports"]
    assert external["metadata"]["annotations"]["example.com/lb"] == "internal"


def test_a_type_kubernetes_does_not_offer_is_refused_by_name() -> None:
    with pytest.raises(InvalidExchange, match=r"spec\.service\.external is 'Ingress'"):
        render(_exchange({"external": "Ingress"}))


def test_the_load_balancer_address_is_the_endpoint_once_known() -> None:
    def endpoint(external: str | None) -> str:
        status = exchange_status(
            _exchange({"external": "LoadBalancer"}),
            Children(engines=None, discovery_available=False, external_endpoint=external),
            degraded=None,
            placement=Unavailable("not asked"),
            endpoint="demo.trading.svc:7100",
            selector=None,
            generation=1,
            now="2026-01-01T00:00:00Z",
        )
        return str(status["endpoint"])

    assert endpoint(None) == "demo.trading.svc:7100"
    assert endpoint("203.0.113.7:7100") == "203.0.113.7:7100"
