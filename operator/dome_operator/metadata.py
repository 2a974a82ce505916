"""Names, labels and ownership shared by every object rendered for an Exchange.

Labels follow the app.kubernetes.io convention so kubectl, dashboards and the chart find
DOME's objects one way. Selectors use only the labels that never change for the life of
an Exchange (name, instance, component), because a StatefulSet's or Deployment's selector
is immutable. The owner reference makes Kubernetes' garbage collector delete everything
with the Exchange, and lets the operator find its objects again.
"""

from __future__ import annotations

from typing import Any, Literal

from dome_operator.exchange import API_VERSION, KIND, Exchange

#: Which part of the exchange an object belongs to; "exchange" for objects both parts share.
Component = Literal["engine", "discovery", "fix", "exchange"]

APP_NAME = "dome"
MANAGED_BY = "dome-operator"
#: On a rendered Secret: the keys the apply step fills with fresh random values when it
#: creates the Secret (comma-separated). Such a Secret is created once and never
#: updated, so its values are not rotated by a reconcile (``apply.Cluster.apply``).
GENERATED_KEYS_ANNOTATION = "dome.dev/generated-keys"
#: Marks the Services whose "metrics" port the ServiceMonitor scrapes (the client Service
#: reaches the same engine pods, so selecting it too would scrape them twice).
METRICS_LABEL = "dome.dev/metrics"


def selector_labels(exchange: Exchange, component: Component) -> dict[str, str]:
    """The labels that select one component's pods; stable for the Exchange's lifetime."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": exchange.name,
        "app.kubernetes.io/component": component,
    }


def standard_labels(exchange: Exchange, component: Component) -> dict[str, str]:
    """Every rendered object and pod carries these."""
    return {
        **selector_labels(exchange, component),
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": APP_NAME,
    }


def instance_labels(exchange: Exchange) -> dict[str, str]:
    """The labels of every pod of one exchange, engines and discovery alike."""
    return {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": exchange.name}


def engine_selector(exchange: Exchange) -> str:
    """The engine pods' selector in label-query form (for the scale subresource's status)."""
    return ",".join(f"{key}={value}" for key, value in selector_labels(exchange, "engine").items())


def owner_reference(exchange: Exchange) -> dict[str, Any]:
    """Makes the Exchange the controller of an object, deleted with it."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": exchange.name,
        "uid": exchange.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_metadata(
    exchange: Exchange,
    name: str,
    component: Component,
    *,
    extra_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """metadata for an object of this Exchange: name, namespace, labels, owner."""
    return {
        "name": name,
        "namespace": exchange.namespace,
        "labels": {**standard_labels(exchange, component), **(extra_labels or {})},
        "ownerReferences": [owner_reference(exchange)],
    }
