"""From an Exchange to the Kubernetes objects that run it: a pure function.

``render`` does no I/O and reads no clock, so the same Exchange always gives the same
objects in the same order; golden files in tests/operator pin them, and the apply step
can compare them with what is in the cluster. The order is the order to create them in:
configuration and identities before the workloads that use them.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from dome_operator import alerts, commands
from dome_operator.exchange import Exchange, read_exchange
from dome_operator.fix_gateway import fix_objects
from dome_operator.metadata import (
    GENERATED_KEYS_ANNOTATION,
    METRICS_LABEL,
    engine_selector,
    instance_labels,
    object_metadata,
    selector_labels,
)
from dome_operator.workloads import discovery_deployment, engine_stateful_set

#: The APIs a ServiceMonitor and a PrometheusRule need (the Prometheus operator's); the
#: operator passes the APIs the cluster serves.
SERVICE_MONITOR_API = "monitoring.coreos.com/v1"
PROMETHEUS_RULE_API = "monitoring.coreos.com/v1"
#: How DOME's alert rules recognise engines: by a scrape job named after an engine
#: Service (tests/monitoring). An Exchange's PrometheusRule narrows it to its own engines.
ENGINE_JOB_MATCHER = 'job=~".+-engine(-headless)?"'
#: The same for discovery, whose Service (and so scrape job) is ``<exchange>-discovery``.
DISCOVERY_JOB_MATCHER = 'job=~".+-discovery"'
#: Labels of the operator's pods (the chart's), which may reach discovery's port.
OPERATOR_POD_LABELS = {
    "app.kubernetes.io/component": "operator",
    "app.kubernetes.io/part-of": "dome",
}
#: Ports the Kubernetes API server may listen on (its Service's 443, the endpoint's 6443
#: on kubeadm and kind): discovery's Lease calls leave the pod for one of them.
API_SERVER_PORTS = (443, 6443)


def render(
    exchange: Mapping[str, Any],
    *,
    available_apis: frozenset[str] = frozenset(),
    operator_namespace: str | None = None,
) -> list[dict[str, Any]]:
    """Every object the Exchange needs, in creation order.

    ``available_apis`` holds group/version strings the cluster serves; optional objects
    (the ServiceMonitor, the PrometheusRule) are rendered only when asked for and
    servable. ``operator_namespace`` is where the operator runs, whose pods the
    NetworkPolicy lets ask discovery for placement (None: an operator outside the
    cluster, which reaches pods through port-forwarding). Raises ``InvalidExchange``
    when the Exchange cannot be rendered.
    """
    spec = read_exchange(exchange)
    instruments = instruments_document(spec)
    checksum = hashlib.sha256(instruments.encode()).hexdigest()
    objects = [
        _instruments_config_map(spec, instruments),
        _discovery_config_map(spec),
        _peer_secret(spec),
        *_discovery_identity(spec),
        _engine_service_account(spec),
        discovery_deployment(spec),
        _discovery_service(spec),
        _headless_service(spec),
        _client_service(spec),
        *_external_service(spec),
        engine_stateful_set(spec, checksum),
        _disruption_budget(spec),
        _discovery_disruption_budget(spec),
        *_network_policies(spec, operator_namespace),
        *fix_objects(spec),
    ]
    if spec.service_monitor and SERVICE_MONITOR_API in available_apis:
        objects.append(_service_monitor(spec))
    if spec.prometheus_rule and PROMETHEUS_RULE_API in available_apis:
        objects.append(_prometheus_rule(spec))
    return objects


def fix_endpoint(exchange: Mapping[str, Any]) -> str | None:
    """The FIX endpoint for the status (``NAME-fix.NS.svc:PORT``); None without one."""
    return commands.fix_endpoint(read_exchange(exchange))


def status_endpoint(exchange: Mapping[str, Any]) -> str:
    """The client endpoint for the Exchange's status: ``NAME.NS.svc:7100``."""
    return commands.client_endpoint(read_exchange(exchange))


def selector(exchange: Mapping[str, Any]) -> str:
    """The engine pods' label selector for the status (and so the scale subresource)."""
    return engine_selector(read_exchange(exchange))


def instruments_document(exchange: Exchange) -> str:
    """The instruments file, in the format ``dome.instrument_spec.load_instruments`` reads."""
    return json.dumps([spec.to_dict() for spec in exchange.instruments], indent=2) + "\n"


def _instruments_config_map(exchange: Exchange, document: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_metadata(
            exchange, commands.instruments_config_map_name(exchange), "exchange"
        ),
        "data": {commands.INSTRUMENTS_KEY: document},
    }


def discovery_document(exchange: Exchange) -> str:
    """What discovery follows while running, in the form ``dome.discovery.runtime_config``
    parses (the operator imports no discovery code; test_render_contract parses it)."""
    document = {
        "enginesExpected": exchange.engines,
        "replicationFactor": exchange.replication_factor,
        "acks": exchange.acks,
        "symbols": sorted(spec.symbol for spec in exchange.instruments),
    }
    return json.dumps(document, indent=2) + "\n"


def _discovery_config_map(exchange: Exchange) -> dict[str, Any]:
    """Discovery's runtime configuration: a scale or an instruments edit changes this
    object, never discovery's pod template, so discovery keeps running through them."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_metadata(
            exchange, commands.discovery_config_map_name(exchange), "discovery"
        ),
        "data": {commands.DISCOVERY_CONFIG_KEY: discovery_document(exchange)},
    }


def _peer_secret(exchange: Exchange) -> dict[str, Any]:
    """The Secret with the exchange's peer secret, which engines and discovery present to
    each other (``dome.peer_auth``).

    Rendered without its value: the render is pure and a golden file holds no secret.
    The apply step creates it once with a random value and never updates it, so a
    reconcile never rotates it under running pods; one that exists already (created by
    hand beforehand, with a ``peer-secret`` key) is used as it is.
    """
    metadata = object_metadata(exchange, commands.peer_secret_name(exchange), "exchange")
    metadata["annotations"] = {GENERATED_KEYS_ANNOTATION: commands.PEER_SECRET_KEY}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque"}


def _discovery_identity(exchange: Exchange) -> list[dict[str, Any]]:
    """Discovery's ServiceAccount and the rights it needs, in this namespace only: the
    Leases, and a read of its own ConfigMap."""
    name = f"{exchange.name}-discovery"
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": object_metadata(exchange, name, "discovery"),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": object_metadata(exchange, name, "discovery"),
            "rules": [
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    # delete: setting the Leases' owner reference (to the Exchange) needs
                    # it where the OwnerReferencesPermissionEnforcement plugin is on
                    # (OpenShift); discovery itself deletes none.
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                },
                {
                    # Its runtime configuration: read only, and only this one ConfigMap.
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": [commands.discovery_config_map_name(exchange)],
                    "verbs": ["get"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": object_metadata(exchange, name, "discovery"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": exchange.namespace}],
        },
    ]


def _engine_service_account(exchange: Exchange) -> dict[str, Any]:
    """Engines never call the Kubernetes API, so their pods get no token."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_metadata(exchange, f"{exchange.name}-engine", "engine"),
        "automountServiceAccountToken": False,
    }


def _discovery_service(exchange: Exchange) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(
            exchange,
            f"{exchange.name}-discovery",
            "discovery",
            extra_labels={METRICS_LABEL: "true"},
        ),
        "spec": {
            "type": "ClusterIP",
            # Discovery's readiness is "every symbol placed", which needs the engines to
            # register through this Service first: not-ready must not mean unreachable.
            "publishNotReadyAddresses": True,
            "selector": selector_labels(exchange, "discovery"),
            "ports": [
                _port("grpc", commands.DISCOVERY_PORT),
                _port("metrics", commands.METRICS_PORT),
            ],
        },
    }


def _headless_service(exchange: Exchange) -> dict[str, Any]:
    """Gives every engine pod a DNS name (its advertised address) and carries metrics."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(
            exchange,
            commands.headless_service_name(exchange),
            "engine",
            extra_labels={METRICS_LABEL: "true"},
        ),
        "spec": {
            "clusterIP": "None",
            # A follower that is still catching up must be reachable by its peers.
            "publishNotReadyAddresses": True,
            "selector": selector_labels(exchange, "engine"),
            "ports": [
                _port("grpc", commands.ENGINE_PORT),
                # Replication: what followers dial, at each pod's name (peer_address).
                _port("peer", commands.PEER_PORT),
                _port("metrics", commands.METRICS_PORT),
            ],
        },
    }


def _client_service(exchange: Exchange) -> dict[str, Any]:
    """The exchange's endpoint: any ready engine accepts an order and forwards it."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": exchange.service.onto(object_metadata(exchange, exchange.name, "engine")),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(exchange, "engine"),
            "ports": [_port("grpc", commands.ENGINE_PORT)],
        },
    }


def _external_service(exchange: Exchange) -> list[dict[str, Any]]:
    """spec.service.external: the client port outside the cluster (a load balancer or a
    port on every node); the NetworkPolicy already lets any source reach it."""
    if exchange.external_service is None:
        return []
    metadata = object_metadata(exchange, commands.external_service_name(exchange), "engine")
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": exchange.service.onto(metadata),
            "spec": {
                "type": exchange.external_service,
                "selector": selector_labels(exchange, "engine"),
                "ports": [_port("grpc", commands.ENGINE_PORT)],
            },
        }
    ]


def _port(name: str, port: int) -> dict[str, Any]:
    return {"name": name, "port": port, "targetPort": name, "protocol": "TCP"}


def evictable_engines(replication_factor: int, acks: str) -> int:
    """How many engines voluntary evictions (node drains) may take down at once.

    Any k engines may hold k replicas of one symbol, so the bound is per symbol. Under
    ``majority`` a symbol takes writes while a majority of its R replicas is up: (R-1)//2
    may go. Under ``all`` it takes writes while one in-sync replica is up, but an
    acknowledged order should stay on two replicas through a drain, so that a node
    failing during it loses nothing: R-2 may go. Below that (R <= 2) the bound would be
    0, and a budget of 0 blocks every node drain forever; with no second replica to
    keep, one engine at a time goes instead (its symbols pause while it restarts; its
    journal stays on its volume), and R >= 3 is what makes drains lossless.

    >>> [evictable_engines(r, "all") for r in (1, 2, 3, 4, 5)]
    [1, 1, 1, 2, 3]
    >>> [evictable_engines(r, "majority") for r in (1, 2, 3, 4, 5)]
    [1, 1, 1, 1, 2]
    """
    tolerated = (replication_factor - 1) // 2 if acks == "majority" else replication_factor - 2
    return max(1, tolerated)


def _discovery_disruption_budget(exchange: Exchange) -> dict[str, Any]:
    """A drain evicts one discovery replica at a time: with two, the other leads or takes
    over (every replica is Ready, docs/discovery-ha.md, so the budget can allow one)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_metadata(exchange, f"{exchange.name}-discovery", "discovery"),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(exchange, "discovery")},
        },
    }


def _disruption_budget(exchange: Exchange) -> dict[str, Any]:
    """Voluntary evictions take no more engines than every symbol can lose and keep taking
    writes under its acks rule (``evictable_engines``)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_metadata(exchange, f"{exchange.name}-engine", "engine"),
        "spec": {
            "maxUnavailable": evictable_engines(exchange.replication_factor, exchange.acks),
            "selector": {"matchLabels": selector_labels(exchange, "engine")},
        },
    }


def _network_policies(exchange: Exchange, operator_namespace: str | None) -> list[dict[str, Any]]:
    """A default deny for every pod of the exchange, in and out, then explicit allows.

    Inside the exchange, pods reach discovery's port (engines register, the FIX gateway
    reads placement) and the client port; the engines' peer port (replication) only from
    the exchange's engine pods, not from its FIX gateway nor anything else; from outside
    only trading and scraping come in, and the operator's placement reads. Out go DNS,
    and discovery's calls to the Kubernetes API (its Leases), which is no pod a selector
    can name, so those go by port.

    Discovery's port stays closed to other pods: engines register there, and a stranger
    that could register would receive symbols' primaries. The operator's pods, in their
    own namespace, are let in to read placement for the status. One allow covers both pod
    kinds; the client port is open on discovery pods too, but nothing listens there.
    """
    own_pods = {"podSelector": {"matchLabels": instance_labels(exchange)}}
    engine_pods = {"podSelector": {"matchLabels": selector_labels(exchange, "engine")}}
    ingress: list[dict[str, Any]] = [
        {
            "from": [own_pods],
            "ports": [_policy_port(commands.DISCOVERY_PORT), _policy_port(commands.ENGINE_PORT)],
        },
        {"from": [engine_pods], "ports": [_policy_port(commands.PEER_PORT)]},
        {"ports": [_policy_port(commands.ENGINE_PORT)]},
        {"ports": [_policy_port(commands.METRICS_PORT)]},
    ]
    if operator_namespace is not None:
        operator_pods = {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": operator_namespace}
            },
            "podSelector": {"matchLabels": dict(OPERATOR_POD_LABELS)},
        }
        ingress.append({"from": [operator_pods], "ports": [_policy_port(commands.DISCOVERY_PORT)]})
    egress: list[dict[str, Any]] = [
        {"to": [own_pods]},
        {"ports": [_policy_port(53, "UDP"), _policy_port(53)]},
    ]
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": object_metadata(exchange, f"{exchange.name}-default-deny", "exchange"),
            "spec": {
                "podSelector": {"matchLabels": instance_labels(exchange)},
                "policyTypes": ["Ingress", "Egress"],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": object_metadata(exchange, exchange.name, "exchange"),
            "spec": {
                "podSelector": {"matchLabels": instance_labels(exchange)},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": ingress,
                "egress": egress,
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": object_metadata(exchange, f"{exchange.name}-discovery", "discovery"),
            "spec": {
                "podSelector": {"matchLabels": selector_labels(exchange, "discovery")},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [_policy_port(port) for port in API_SERVER_PORTS]}],
            },
        },
    ]


def _policy_port(port: int, protocol: str = "TCP") -> dict[str, Any]:
    return {"port": port, "protocol": protocol}


def _service_monitor(exchange: Exchange) -> dict[str, Any]:
    return {
        "apiVersion": SERVICE_MONITOR_API,
        "kind": "ServiceMonitor",
        "metadata": object_metadata(exchange, exchange.name, "exchange"),
        "spec": {
            "selector": {"matchLabels": {**instance_labels(exchange), METRICS_LABEL: "true"}},
            "namespaceSelector": {"matchNames": [exchange.namespace]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
        },
    }


def _prometheus_rule(exchange: Exchange) -> dict[str, Any]:
    """DOME's alerts for this exchange's engines and discovery only.

    The chart's rule files match any engine (or discovery) job; here each is narrowed to
    the job the Prometheus operator gives this exchange's headless Service (or discovery
    Service, both of which the ServiceMonitor scrapes) in this namespace, so two
    exchanges with a PrometheusRule each do not both fire for one engine.
    """
    namespace = f'namespace="{exchange.namespace}"'
    engines = f'job="{commands.headless_service_name(exchange)}",{namespace}'
    discovery = f'job="{exchange.name}-discovery",{namespace}'
    groups = [copy.deepcopy(group) for group in alerts.RULE_GROUPS]
    for group in groups:
        for rule in group["rules"]:
            expr = rule["expr"].replace(ENGINE_JOB_MATCHER, engines)
            rule["expr"] = expr.replace(DISCOVERY_JOB_MATCHER, discovery)
    return {
        "apiVersion": PROMETHEUS_RULE_API,
        "kind": "PrometheusRule",
        "metadata": object_metadata(exchange, exchange.name, "exchange"),
        "spec": {"groups": groups},
    }
