"""The control-plane suite's fixtures: one real Kubernetes control plane per session.

``control_plane`` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and KWOK on loopback (control_plane.py); ``chart`` installs charts/dome into it with the
real helm; ``operator`` runs ``dome-operator`` as a local process logged in with the
chart's ServiceAccount token, so the chart's RBAC is what the API server enforces on it.
The suite skips only where Go is missing (``make k8s`` cannot build the binaries there).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from control_plane import ControlPlane, control_plane, missing_reason, persistent_volumes
from kube_chart import NAMESPACE, Chart, OperatorProcess, install_chart, running_operator
from local_kubelet import LocalKubelet, local_kubelet
from service_proxy import open_service_proxy

#: The Exchange the process tests run (examples/k8s/exchange.yaml's name).
EXCHANGE = "demo"


@pytest.fixture(scope="session")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    with control_plane(tmp_path_factory.mktemp("control-plane")) as running:
        yield running


@pytest.fixture(scope="session")
def chart(plane: ControlPlane) -> Chart:
    """charts/dome installed by helm, watching the ``trading`` namespace."""
    return install_chart(plane)


@pytest.fixture(scope="session")
def kubelet(
    plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalKubelet]:
    """The ``dome-local`` node's kubelet, with PersistentVolumes ready for the claims."""
    persistent_volumes(plane, tmp_path_factory.mktemp("volumes"), count=8)
    with local_kubelet(plane, tmp_path_factory.mktemp("pods")) as running:
        yield running
        running.check()


@pytest.fixture(scope="session")
def operator(
    plane: ControlPlane,
    chart: Chart,
    kubelet: LocalKubelet,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """``dome-operator`` with the chart's arguments and ServiceAccount token.

    It reads placement through the discovery Service, as in a cluster: here its stand-in
    on loopback (the operator's own way to be pointed at a discovery outside cluster
    DNS). Not one discovery pod's port: a pod-template change replaces both discovery
    pods, and their successors listen elsewhere.
    """
    proxy = open_service_proxy(plane, kubelet, NAMESPACE, f"{EXCHANGE}-discovery", "grpc")
    env = {"DOME_OPERATOR_DISCOVERY_ADDRESS": proxy.address}
    root = tmp_path_factory.mktemp("operator")
    try:
        with running_operator(plane, chart, root, env) as running:
            yield running
    finally:
        proxy.close()
