"""A ClusterIP Service on loopback: kube-proxy's part for one Service, in the small.

Each new connection goes to one of the Service's ready endpoints, chosen the way
kube-proxy chooses from its EndpointSlices: pods matching the selector, with the Ready
condition the API server holds (which the local kubelet reports from the readiness
probe), at the local port of the Service's named targetPort. A pod that is not Ready gets
no connection; with none ready the connection is closed at once. The piping is
tests/operator/tcp_balancer.py's, which also skips an endpoint that refuses (a process
killed a moment ago, still Ready in the API server).

The local kubelet keeps one per Service that selects several pods (two discovery
replicas), so the command lines that name such a Service reach it through one port.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from control_plane import ControlPlane

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))
from tcp_balancer import TcpBalancer

if TYPE_CHECKING:
    from local_kubelet import LocalKubelet


def ready_endpoints(plane: ControlPlane, kubelet: LocalKubelet, service: dict[str, Any],
                    port_name: str) -> list[int]:  # fmt: skip
    meta, spec = service["metadata"], service["spec"]
    (port,) = [p for p in spec["ports"] if p["name"] == port_name]
    selector = ",".join(f"{k}={v}" for k, v in sorted(spec["selector"].items()))
    pods = plane.api.items(f"/api/v1/namespaces/{meta['namespace']}/pods", selector)
    ports = []
    for pod in pods:
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in pod.get("status", {}).get("conditions", []))  # fmt: skip
        running = kubelet.process(pod["metadata"]["name"], meta["namespace"])
        if ready and running is not None and not pod["metadata"].get("deletionTimestamp"):
            ports.append(running.process.ports[port["targetPort"]])
    return sorted(ports)


def open_service_proxy(plane: ControlPlane, kubelet: LocalKubelet, namespace: str, name: str,
                       port_name: str) -> TcpBalancer:  # fmt: skip
    """The Service ``name``'s ``port_name`` on 127.0.0.1 (``.address``); ``.close()`` it.

    The Service is looked up on each connection, as kube-proxy follows it: the proxy may
    be opened before the Service exists (the operator's way to its discovery, opened
    before any Exchange), and one deleted and restored is followed."""
    path = f"/api/v1/namespaces/{namespace}/services/{name}"

    def backends() -> list[int]:
        service = plane.api.find(path)
        return [] if service is None else ready_endpoints(plane, kubelet, service, port_name)

    return TcpBalancer(backends, name)


@contextmanager
def service_proxy(
    plane: ControlPlane, kubelet: LocalKubelet, namespace: str, name: str, port_name: str
) -> Iterator[str]:
    """Serve the Service ``name``'s ``port_name`` on 127.0.0.1; yields host:port."""
    proxy = open_service_proxy(plane, kubelet, namespace, name, port_name)
    try:
        yield proxy.address
    finally:
        proxy.close()
