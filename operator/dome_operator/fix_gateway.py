"""The FIX gateway of an Exchange (spec.fix): its workload, Service, identity and policy.

The gateway (``dome fix``) is a client of the exchange through the SDK, so it needs no
Kubernetes API and no peer secret: its pod reads the clear tokens of its sessions'
accounts (spec.fix.tokensSecret), reaches discovery and the engines as an own pod of
the exchange (the exchange's NetworkPolicy lets them talk), and is reached on its FIX
port by trading firms from anywhere.

Why a StatefulSet of one replica with a volume claim template, not a Deployment: the
gateway keeps every session's FIX sequence numbers and message store in its data
directory, so a restarted gateway resumes each session where it was (a counterparty
that finds its sequence numbers reset must be reset by hand). That needs two things a
Deployment does not give. The volume must follow the pod (a claim template binds one
PVC to ``NAME-fix-0`` for good, kept when the Exchange is deleted, as the engines'
journals are); and there must never be two gateways at once, since two processes on one
session store would both send under one SenderCompID and corrupt the sequence numbers: a
StatefulSet replaces its pod by deleting the old one first, where a Deployment's rolling
update starts the new pod before stopping the old.
"""

from __future__ import annotations

from typing import Any

from dome_operator import commands
from dome_operator.exchange import Exchange, FixGateway
from dome_operator.metadata import (
    METRICS_LABEL,
    object_metadata,
    selector_labels,
    standard_labels,
)
from dome_operator.pods import checkov_skips, container_spec, image_skips, pod_spec

#: Seconds the kubelet waits between SIGTERM and SIGKILL: the gateway logs every
#: session out (a FIX Logout each) and stops its desks before it exits.
TERMINATION_GRACE_SECONDS = 30
#: QuickFIX builds its sessions and the desks resume their report streams before the
#: metrics page (the probes' target) is served: a minute before liveness may restart it.
STARTUP_SECONDS = 60
_PROBE_PERIOD_SECONDS = 5
_SECRET_FILE_MODE = 0o440
#: A relay on the order path: a memory limit bounds a leak; no CPU limit, for the reason
#: engines have none (throttling stalls every session for the rest of a CFS period).
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
NO_CPU_LIMIT = (
    "no CPU limit on purpose: the gateway is on the order path and CFS throttling would "
    "stall every FIX session for up to a 100 ms period; requests reserve its CPU"
)


def fix_objects(exchange: Exchange) -> list[dict[str, Any]]:
    """The gateway's objects in creation order; none when spec.fix is not enabled."""
    if exchange.fix is None:
        return []
    return [
        _service_account(exchange),
        _service(exchange, exchange.fix),
        fix_stateful_set(exchange, exchange.fix),
        _network_policy(exchange, exchange.fix),
    ]


def fix_workload_name(exchange: Exchange) -> str:
    return f"{exchange.name}-fix"


def fix_stateful_set(exchange: Exchange, fix: FixGateway) -> dict[str, Any]:
    """One gateway pod with its own volume (see the module's note on why one replica)."""
    name = fix_workload_name(exchange)
    container = container_spec(
        "fix",
        image=exchange.image,
        pull_policy=exchange.pull_policy,
        command=[commands.EXECUTABLE],
        args=commands.fix_args(exchange),
        ports={"fix": fix.port, "metrics": commands.METRICS_PORT},
        # The metrics page is served once the acceptor listens (dome.fix.server), so it
        # answering is "ready"; a TCP probe of the FIX port would log a session attempt.
        probes={
            "startupProbe": _probe(STARTUP_SECONDS // _PROBE_PERIOD_SECONDS),
            "readinessProbe": _probe(2),
            "livenessProbe": _probe(6),
        },
        mounts=_mounts(exchange, fix),
        env=[],
        resources=RESOURCES,
    )
    pod = pod_spec(
        container, service_account=name, api_access=False, volumes=_volumes(exchange, fix)
    )
    pod["terminationGracePeriodSeconds"] = TERMINATION_GRACE_SECONDS
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": fix.storage_size}},
    }
    if exchange.storage_class is not None:
        claim["storageClassName"] = exchange.storage_class
    metadata = object_metadata(exchange, name, "fix")
    metadata["annotations"] = checkov_skips(
        {**image_skips(exchange.image), "CKV_K8S_11": NO_CPU_LIMIT}
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "serviceName": commands.fix_service_name(exchange),
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "revisionHistoryLimit": 3,
            # Sequence numbers are the sessions' record with each counterparty.
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain",
                "whenScaled": "Retain",
            },
            "selector": {"matchLabels": selector_labels(exchange, "fix")},
            "template": {
                "metadata": {
                    "labels": standard_labels(exchange, "fix"),
                    "annotations": {"kubectl.kubernetes.io/default-container": "fix"},
                },
                "spec": pod,
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data", "labels": selector_labels(exchange, "fix")},
                    "spec": claim,
                }
            ],
        },
    }


def _service_account(exchange: Exchange) -> dict[str, Any]:
    """The gateway never calls the Kubernetes API, so its pod gets no token."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_metadata(exchange, fix_workload_name(exchange), "fix"),
        "automountServiceAccountToken": False,
    }


def _service(exchange: Exchange, fix: FixGateway) -> dict[str, Any]:
    """Where FIX clients connect (ClusterIP: put a LoadBalancer or a TCP ingress in front
    for firms outside the cluster), and the gateway's metrics for the ServiceMonitor."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(
            exchange,
            commands.fix_service_name(exchange),
            "fix",
            extra_labels={METRICS_LABEL: "true"},
        ),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(exchange, "fix"),
            "ports": [
                {"name": "fix", "port": fix.port, "targetPort": "fix", "protocol": "TCP"},
                {
                    "name": "metrics",
                    "port": commands.METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                },
            ],
        },
    }


def _network_policy(exchange: Exchange, fix: FixGateway) -> dict[str, Any]:
    """The FIX port open to any client: the exchange's default deny covers the gateway's
    pod like every other, and its shared allow opens only the gRPC and metrics ports.
    Going out, the gateway reaches discovery and the engines as an own pod of the
    exchange, which that allow already permits."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_metadata(exchange, fix_workload_name(exchange), "fix"),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(exchange, "fix")},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"port": fix.port, "protocol": "TCP"}]}],
        },
    }


def _probe(failure_threshold: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/metrics", "port": "metrics"},
        "periodSeconds": _PROBE_PERIOD_SECONDS,
        "timeoutSeconds": 2,
        "failureThreshold": failure_threshold,
    }


def _mounts(exchange: Exchange, fix: FixGateway) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": "data", "mountPath": commands.DATA_DIR},
        {"name": "fix-tokens", "mountPath": commands.FIX_TOKENS_DIR, "readOnly": True},
    ]
    if exchange.tls_secret is not None:
        mounts.append({"name": "tls", "mountPath": commands.TLS_DIR, "readOnly": True})
    if fix.tls_secret is not None:
        mounts.append({"name": "fix-tls", "mountPath": commands.FIX_TLS_DIR, "readOnly": True})
    return mounts


def _volumes(exchange: Exchange, fix: FixGateway) -> list[dict[str, Any]]:
    key = commands.FIX_TOKENS_KEY
    volumes: list[dict[str, Any]] = [
        {
            "name": "fix-tokens",
            "secret": {
                "secretName": fix.tokens_secret,
                "items": [{"key": key, "path": key}],
                "defaultMode": _SECRET_FILE_MODE,
            },
        }
    ]
    if exchange.tls_secret is not None:
        volumes.append(_secret_volume("tls", exchange.tls_secret))
    if fix.tls_secret is not None:
        volumes.append(_secret_volume("fix-tls", fix.tls_secret))
    return volumes


def _secret_volume(name: str, secret: str) -> dict[str, Any]:
    return {"name": name, "secret": {"secretName": secret, "defaultMode": _SECRET_FILE_MODE}}
