"""The two workloads of an exchange: the discovery Deployment and the engine StatefulSet.

Both pods are hardened the same way (``dome_operator.pods``: the restricted Pod Security
Standard, a read-only root filesystem, no service-account token unless the process calls
the Kubernetes API). Engines carry a checksum of the instruments they read, so editing
the Exchange's instruments rolls them (a ConfigMap change alone restarts nothing).
Discovery's pod template holds nothing that changes with a scale, the instruments or the
replication settings: it follows those in its own ConfigMap while it runs
(``dome.discovery.runtime_config``), so none of them restarts the placement authority.
"""

from __future__ import annotations

from typing import Any

from dome_operator import commands
from dome_operator.exchange import Exchange, Resources
from dome_operator.metadata import Component, object_metadata, selector_labels, standard_labels
from dome_operator.pod_settings import ZONE_KEY
from dome_operator.pods import checkov_skips, container_spec, image_skips, pod_spec

INSTRUMENTS_CHECKSUM_ANNOTATION = "dome.dev/instruments-checksum"
#: An engine replays its journal before serving; give that five minutes before liveness
#: probes may restart it.
ENGINE_STARTUP_SECONDS = 300
DISCOVERY_STARTUP_SECONDS = 60
#: How long Kubernetes lets a stopping engine run between SIGTERM and SIGKILL. On SIGTERM
#: an engine first drains (up to ``--drain-timeout``, 5 s: discovery hands each primary
#: it holds to an in-sync follower by planned election, while it still serves and
#: replicates), then stops heartbeating and gives calls in flight ``--grace`` (5 s) to
#: finish, then closes its journals. 30 s covers both with room for a slow disk; a
#: SIGKILL mid-drain would leave its symbols without a primary until its lease lapses.
#: With this, each engine a rollout replaces (``rollout``) is a follower by the time it
#: stops, even when it led symbols when it was chosen.
ENGINE_TERMINATION_GRACE_SECONDS = 30
_PROBE_PERIOD_SECONDS = 5
#: Secrets are readable by the owner and the fsGroup only.
_SECRET_FILE_MODE = 0o440
#: Discovery's own footprint is small and not something users size; the CPU limit bounds
#: a runaway loop and costs nothing, since discovery is off the order path.
DISCOVERY_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
#: Why an engine without a CPU limit in spec.resources gets none: CFS throttling stalls a
#: matching engine for the rest of a 100 ms period once it bursts past its quota, which is
#: exactly the latency an exchange must not add; requests still reserve its CPU.
ENGINE_NO_CPU_LIMIT = (
    "no CPU limit on purpose: CFS throttling would stall matching for up to a 100 ms period "
    "in a burst; requests reserve the CPU and spec.resources.limits.cpu sets one"
)


def discovery_deployment(exchange: Exchange) -> dict[str, Any]:
    """``spec.discovery.replicas`` discovery pods, one leading at a time on the leader Lease.

    Every replica is Ready when healthy (a standby relays to the leader,
    ``dome.discovery.relay``), so a RollingUpdate that adds one new pod before it removes
    an old one keeps a leader or a standby that takes over in a Lease duration, and the
    PodDisruptionBudget (``render``) lets a drain evict the leader. Preferred
    anti-affinity keeps the replicas on different nodes where there are several.
    """
    name = f"{exchange.name}-discovery"
    container = _container(
        exchange,
        "discovery",
        commands.discovery_args(exchange),
        ports={
            "grpc": commands.DISCOVERY_PORT,
            "metrics": commands.METRICS_PORT,
            "health": commands.HEALTH_PORT,
        },
        startup_seconds=DISCOVERY_STARTUP_SECONDS,
        mounts=_config_mounts(exchange, engine=False),
        env=[
            {
                "name": commands.POD_NAME_ENV,
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
            },
            {
                "name": commands.POD_IP_ENV,
                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
            },
        ],
        resources=(
            DISCOVERY_RESOURCES
            if exchange.discovery_resources is None
            else _resources(exchange.discovery_resources)
        ),
    )
    pod = exchange.pods.onto(
        pod_spec(
            container,
            service_account=name,
            # It reads and writes Leases, so it needs its token.
            api_access=True,
            volumes=_config_volumes(exchange, engine=False),
        )
    )
    # spec.pods.affinity may bring its own podAntiAffinity; otherwise replicas spread.
    pod["affinity"] = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": selector_labels(exchange, "discovery")},
                    },
                }
            ]
        },
        **pod.get("affinity", {}),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _workload_metadata(exchange, name, "discovery", image_skips(exchange.image)),
        "spec": {
            "replicas": exchange.discovery_replicas,
            "revisionHistoryLimit": 3,
            # A new pod first, then an old one goes: never fewer replicas than asked.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "selector": {"matchLabels": selector_labels(exchange, "discovery")},
            "template": {
                "metadata": _pod_metadata(exchange, "discovery", None),
                "spec": pod,
            },
        },
    }


def engine_stateful_set(exchange: Exchange, instruments_checksum: str) -> dict[str, Any]:
    """The engines: stable identities (the engine id) and one volume each (the journals)."""
    name = f"{exchange.name}-engine"
    container = _container(
        exchange,
        "engine",
        commands.engine_args(exchange),
        ports={
            "grpc": commands.ENGINE_PORT,
            "peer": commands.PEER_PORT,
            "metrics": commands.METRICS_PORT,
            "health": commands.HEALTH_PORT,
        },
        startup_seconds=ENGINE_STARTUP_SECONDS,
        mounts=[
            {"name": "data", "mountPath": commands.DATA_DIR},
            *_config_mounts(exchange, engine=True),
        ],
        env=[
            {
                "name": commands.POD_NAME_ENV,
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
            }
        ],
        resources=_resources(exchange.resources),
    )
    engine_pod = exchange.pods.onto(
        pod_spec(
            container,
            service_account=name,
            api_access=False,
            volumes=_config_volumes(exchange, engine=True),
        )
    )
    engine_pod["terminationGracePeriodSeconds"] = ENGINE_TERMINATION_GRACE_SECONDS
    # Replicas of a symbol only protect it if they are on different nodes; ScheduleAnyway
    # keeps a one-node cluster (kind) working.
    # spec.pods.zoneSpread adds zones, so a zone outage takes at most its share of engines.
    engine_pod["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector_labels(exchange, "engine")},
        }
        for key in (
            ("kubernetes.io/hostname", ZONE_KEY)
            if exchange.pods.zone_spread
            else ("kubernetes.io/hostname",)
        )
    ]
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": exchange.storage_size}},
    }
    if exchange.storage_class is not None:
        claim_spec["storageClassName"] = exchange.storage_class
    skips = dict(image_skips(exchange.image))
    if not any(resource == "cpu" for resource, _ in exchange.resources.limits):
        skips["CKV_K8S_11"] = ENGINE_NO_CPU_LIMIT
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _workload_metadata(exchange, name, "engine", skips),
        "spec": {
            "replicas": exchange.engines,
            "serviceName": commands.headless_service_name(exchange),
            # Engines find each other through discovery, not by start order; starting them
            # together halves the time to a full exchange.
            "podManagementPolicy": "Parallel",
            # The operator replaces engines one at a time, followers before primaries,
            # each once every symbol is back in sync (``rollout``); the controller only
            # recreates the pod it deleted.
            "updateStrategy": {"type": "OnDelete"},
            "revisionHistoryLimit": 3,
            # Journals are the exchange's record: scaling down keeps them (scaling up
            # resumes them); deleting keeps them unless spec.storage.retainOnDelete is false.
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain" if exchange.retain_volumes else "Delete",
                "whenScaled": "Retain",
            },
            "selector": {"matchLabels": selector_labels(exchange, "engine")},
            "template": {
                "metadata": _pod_metadata(exchange, "engine", instruments_checksum),
                "spec": engine_pod,
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data", "labels": selector_labels(exchange, "engine")},
                    "spec": claim_spec,
                }
            ],
        },
    }


def _pod_metadata(exchange: Exchange, component: Component, checksum: str | None) -> dict[str, Any]:
    annotations: dict[str, str] = {"kubectl.kubernetes.io/default-container": component}
    if checksum is not None:
        annotations = {INSTRUMENTS_CHECKSUM_ANNOTATION: checksum, **annotations}
    return exchange.pods.metadata.onto(
        {"labels": standard_labels(exchange, component), "annotations": annotations}
    )


def _resources(resources: Resources) -> dict[str, dict[str, str]]:
    return {
        kind: dict(pairs)
        for kind, pairs in (("requests", resources.requests), ("limits", resources.limits))
        if pairs
    }


def _workload_metadata(
    exchange: Exchange, name: str, component: Component, skips: dict[str, str]
) -> dict[str, Any]:
    metadata = object_metadata(exchange, name, component)
    if skips:
        metadata["annotations"] = checkov_skips(skips)
    return metadata


def _container(
    exchange: Exchange,
    name: Component,
    args: list[str],
    *,
    ports: dict[str, int],
    startup_seconds: int,
    mounts: list[dict[str, Any]],
    env: list[dict[str, Any]],
    resources: dict[str, dict[str, str]],
) -> dict[str, Any]:
    health = ports["health"]
    return container_spec(
        name,
        image=exchange.image,
        pull_policy=exchange.pull_policy,
        command=[commands.EXECUTABLE],
        args=args,
        ports=ports,
        # Standard gRPC health checking on the plaintext health port (the service port
        # may be mutual TLS, which kubelet probes cannot speak): "" is SERVING while the
        # process serves (startup, liveness); READINESS_SERVICE while an engine holds
        # every replica in sync, or discovery has placed every symbol (dome.health).
        probes={
            "startupProbe": _grpc_probe(
                health, failure_threshold=startup_seconds // _PROBE_PERIOD_SECONDS
            ),
            "readinessProbe": _grpc_probe(
                health, failure_threshold=2, service=commands.READINESS_SERVICE
            ),
            "livenessProbe": _grpc_probe(health, failure_threshold=6),
        },
        mounts=mounts,
        env=env,
        resources=resources,
    )


def _grpc_probe(port: int, *, failure_threshold: int, service: str = "") -> dict[str, Any]:
    return {
        "grpc": {"port": port, **({"service": service} if service else {})},
        "periodSeconds": _PROBE_PERIOD_SECONDS,
        "timeoutSeconds": 2,
        "failureThreshold": failure_threshold,
    }


def _config_mounts(exchange: Exchange, *, engine: bool) -> list[dict[str, Any]]:
    """An engine's files: instruments, accounts, peer secret, TLS; discovery's: the last two."""
    mounts: list[dict[str, Any]] = []
    if engine:
        mounts.append(
            {"name": "instruments", "mountPath": commands.INSTRUMENTS_DIR, "readOnly": True}
        )
        mounts.append({"name": "accounts", "mountPath": commands.ACCOUNTS_DIR, "readOnly": True})
    mounts.append({"name": "peer-secret", "mountPath": commands.PEER_SECRET_DIR, "readOnly": True})
    if exchange.tls_secret is not None:
        mounts.append({"name": "tls", "mountPath": commands.TLS_DIR, "readOnly": True})
    return mounts


def _config_volumes(exchange: Exchange, *, engine: bool) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = []
    if engine:
        key = commands.INSTRUMENTS_KEY
        volumes.append(
            {
                "name": "instruments",
                "configMap": {
                    "name": commands.instruments_config_map_name(exchange),
                    "items": [{"key": key, "path": key}],
                },
            }
        )
        key = commands.ACCOUNTS_KEY
        volumes.append(
            {
                "name": "accounts",
                "secret": {
                    "secretName": exchange.accounts_secret,
                    "items": [{"key": key, "path": key}],
                    "defaultMode": _SECRET_FILE_MODE,
                },
            }
        )
    key = commands.PEER_SECRET_KEY
    volumes.append(
        {
            "name": "peer-secret",
            "secret": {
                "secretName": commands.peer_secret_name(exchange),
                "items": [{"key": key, "path": key}],
                "defaultMode": _SECRET_FILE_MODE,
            },
        }
    )
    if exchange.tls_secret is not None:
        volumes.append(
            {
                "name": "tls",
                "secret": {"secretName": exchange.tls_secret, "defaultMode": _SECRET_FILE_MODE},
            }
        )
    return volumes
