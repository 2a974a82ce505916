"""A ClusterIP Service on loopback: kube-proxy's part for one Service, in the small.

Each new connection goes to one of the Service's ready endpoints, chosen the way
kube-proxy chooses from its EndpointSlices: pods matching the selector, with the Ready
condition the API server holds (which the local kubelet reports from the readiness
probe), at the local port of the Service's named targetPort. A pod that is not Ready gets
no connection; with none ready the connection is closed at once.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from control_plane import LOCALHOST, ControlPlane
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


@contextmanager
def service_proxy(
    plane: ControlPlane, kubelet: LocalKubelet, namespace: str, name: str, port_name: str
) -> Iterator[str]:
    """Serve the Service ``name``'s ``port_name`` on 127.0.0.1; yields host:port."""
    service = plane.api.get(f"/api/v1/namespaces/{namespace}/services/{name}")
    listener = socket.create_server((LOCALHOST, 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    turn = itertools.count()
    threads: list[threading.Thread] = []

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):  # the other direction closed it first
                    end.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            ports = ready_endpoints(plane, kubelet, service, port_name)
            if not ports:
                client.close()
                continue
            backend = socket.create_connection((LOCALHOST, ports[next(turn) % len(ports)]))
            for source, sink in ((client, backend), (backend, client)):
                thread = threading.Thread(target=pipe, args=(source, sink), daemon=True)
                thread.start()
                threads.append(thread)

    acceptor = threading.Thread(target=accept, name=f"service-{name}", daemon=True)
    acceptor.start()
    try:
        yield f"{LOCALHOST}:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(timeout=5)
        listener.close()
