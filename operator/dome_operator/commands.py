"""The command lines, ports and paths of DOME's processes inside a pod.

This is the contract between the operator and ``dome engine`` / ``dome discovery``: the
flags they must accept, where files are mounted, which ports serve what. It lives in one
module so the replication work, which finalises the discovery flags and adds
``--discovery``, ``--advertise`` and ``--tls-dir`` to the engine, changes one place.
"""

from __future__ import annotations

from dome_operator.exchange import Exchange

ENGINE_PORT = 7100
#: An engine's replication port (``--peer-port``): only the exchange's engines may reach
#: it (the NetworkPolicy); the engine registers it as its advertised host at this port.
PEER_PORT = 7200
DISCOVERY_PORT = 7000
#: Prometheus port of both processes (each in its own pod, so one number suffices).
METRICS_PORT = 9100
#: Plaintext gRPC health port of both processes, for the kubelet's probes: the service
#: port may be mutual TLS, which a kubelet probe cannot speak (``dome.health``).
HEALTH_PORT = 8081
#: The health service name whose status is readiness (``dome.health.READINESS``); the
#: overall service ("") is liveness.
READINESS_SERVICE = "readiness"

DATA_DIR = "/var/lib/dome"
INSTRUMENTS_DIR = "/etc/dome/instruments"
INSTRUMENTS_KEY = "instruments.json"
#: The key of discovery's ConfigMap (``discovery_config_map_name``) holding its document.
DISCOVERY_CONFIG_KEY = "discovery.json"
ACCOUNTS_DIR = "/etc/dome/accounts"
ACCOUNTS_KEY = "accounts.json"
TLS_DIR = "/etc/dome/tls"
#: The exchange's peer secret (``dome.peer_auth``), from the Secret ``peer_secret_name``.
PEER_SECRET_DIR = "/etc/dome/peer"
PEER_SECRET_KEY = "peer-secret"
PEER_SECRET_FILE = f"{PEER_SECRET_DIR}/{PEER_SECRET_KEY}"

#: The FIX gateway's files: the clear tokens of its sessions' accounts, and its own TLS
#: certificate for FIX over TLS (a Secret apart from spec.tls, which is the exchange's).
FIX_TOKENS_DIR = "/etc/dome/fix-tokens"
FIX_TOKENS_KEY = "tokens.json"
FIX_TLS_DIR = "/etc/dome/fix-tls"

#: Set from the downward API: the StatefulSet identity (NAME-engine-0, ...) is the engine id.
POD_NAME_ENV = "POD_NAME"
#: The pod's IP (downward API ``status.podIP``): where other discovery replicas reach it.
POD_IP_ENV = "POD_IP"
#: Discovery keeps its epoch and placement authority in coordination.k8s.io Leases.
LEASE_STORE = "kubernetes"

EXECUTABLE = "dome"


def engine_args(exchange: Exchange) -> list[str]:
    """Arguments after ``dome`` for an engine pod; ``$(POD_NAME)`` is expanded by the kubelet."""
    pod = f"$({POD_NAME_ENV})"
    args = [
        "engine",
        "--id", pod,
        "--host", "0.0.0.0",
        "--port", str(ENGINE_PORT),
        "--peer-port", str(PEER_PORT),
        "--metrics-port", str(METRICS_PORT),
        "--health-port", str(HEALTH_PORT),
        "--advertise", f"{pod}.{headless_service_host(exchange)}:{ENGINE_PORT}",
        "--discovery", discovery_address(exchange),
        "--data-dir", DATA_DIR,
        "--instruments", f"{INSTRUMENTS_DIR}/{INSTRUMENTS_KEY}",
        "--accounts", f"{ACCOUNTS_DIR}/{ACCOUNTS_KEY}",
        "--peer-secret-file", PEER_SECRET_FILE,
    ]  # fmt: skip
    if exchange.tls_secret is not None:
        args += ["--tls-dir", TLS_DIR]
    return args


def discovery_args(exchange: Exchange) -> list[str]:
    """Arguments after ``dome`` for the discovery pod.

    Nothing here changes with a scale, the instruments or the replication settings:
    discovery reads those from its ConfigMap while it runs (``--config-map``,
    ``dome.discovery.runtime_config``), so changing them restarts no discovery pod.
    Every replica campaigns for the leader Lease (``--leader-lease``), named by its pod
    and reachable at its pod IP; ``$(...)`` is expanded by the kubelet.
    """
    args = [
        "discovery",
        "--host", "0.0.0.0",
        "--port", str(DISCOVERY_PORT),
        "--metrics-port", str(METRICS_PORT),
        "--health-port", str(HEALTH_PORT),
        "--store", LEASE_STORE,
        "--lease-namespace", exchange.namespace,
        "--lease-prefix", exchange.name,
        "--lease-owner-uid", exchange.uid,
        "--config-map", discovery_config_map_name(exchange),
        "--leader-lease", discovery_leader_lease_name(exchange),
        "--identity", f"$({POD_NAME_ENV})",
        "--advertise-host", f"$({POD_IP_ENV})",
        "--peer-secret-file", PEER_SECRET_FILE,
    ]  # fmt: skip
    if exchange.tls_secret is not None:
        # A standby dials the leader by pod IP; the certificate names the Service.
        host = discovery_address(exchange).rsplit(":", 1)[0]
        args += ["--tls-dir", TLS_DIR, "--tls-server-name", host]
    return args


def discovery_leader_lease_name(exchange: Exchange) -> str:
    """The Lease discovery's replicas campaign for: one per exchange, and apart from the
    symbols' Leases, whose names hold a dot (``dome.discovery.kube_store.lease_name``)."""
    return f"{exchange.name}-discovery-leader"


def fix_args(exchange: Exchange) -> list[str]:
    """Arguments after ``dome`` for the FIX gateway pod (``exchange.fix`` is set).

    The gateway is a client of the exchange: it finds primaries through discovery, as
    the SDK does, so it follows failovers. Its data directory holds the FIX sequence
    numbers and message store that let a restarted gateway resume every session.
    """
    fix = exchange.fix
    if fix is None:
        raise ValueError(f"Exchange {exchange.name} has no FIX gateway")
    args = [
        "fix",
        "--discovery", discovery_address(exchange),
        "--accounts", f"{FIX_TOKENS_DIR}/{FIX_TOKENS_KEY}",
        "--host", "0.0.0.0",
        "--port", str(fix.port),
        "--metrics-port", str(METRICS_PORT),
        "--data-dir", DATA_DIR,
    ]  # fmt: skip
    if exchange.tls_secret is not None:
        args += ["--tls-dir", TLS_DIR]
    if fix.tls_secret is not None:
        args += ["--fix-tls-dir", FIX_TLS_DIR]
    return args


def fix_service_name(exchange: Exchange) -> str:
    """The Service FIX clients connect to (and the gateway StatefulSet's serviceName)."""
    return f"{exchange.name}-fix"


def fix_endpoint(exchange: Exchange) -> str | None:
    """host:port of the FIX Service, for the status; None without a gateway."""
    if exchange.fix is None:
        return None
    return f"{fix_service_name(exchange)}.{exchange.namespace}.svc:{exchange.fix.port}"


def peer_secret_name(exchange: Exchange) -> str:
    """The Secret holding the exchange's peer secret, which engines and discovery mount."""
    return f"{exchange.name}-peer-secret"


def instruments_config_map_name(exchange: Exchange) -> str:
    """The ConfigMap both processes mount their instruments file from."""
    return f"{exchange.name}-instruments"


def discovery_config_map_name(exchange: Exchange) -> str:
    """The ConfigMap discovery follows while running (engines expected, replication, symbols)."""
    return f"{exchange.name}-discovery"


def headless_service_name(exchange: Exchange) -> str:
    """The Service that gives each engine pod a stable DNS name."""
    return f"{exchange.name}-engine-headless"


def headless_service_host(exchange: Exchange) -> str:
    """DNS suffix under which engine pods are reachable by pod name."""
    return f"{headless_service_name(exchange)}.{exchange.namespace}.svc"


def discovery_address(exchange: Exchange) -> str:
    """host:port of the discovery Service, as engines dial it."""
    return f"{exchange.name}-discovery.{exchange.namespace}.svc:{DISCOVERY_PORT}"


def external_service_name(exchange: Exchange) -> str:
    """The Service that exposes the client port outside the cluster (spec.service.external)."""
    return f"{exchange.name}-external"


def client_endpoint(exchange: Exchange) -> str:
    """host:port of the client Service, the endpoint the Exchange's status reports."""
    return f"{exchange.name}.{exchange.namespace}.svc:{ENGINE_PORT}"
