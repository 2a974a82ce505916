"""A real Kubernetes control plane on loopback for one test session.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK, as built by
``make k8s`` (k8s/build.sh) into ~/.cache/dome/k8s/<version>/bin, each started directly
with every flag spelled out here, so nothing depends on a kubeadm or kwokctl default.
Everything listens on 127.0.0.1 at ports chosen now; every wait has a deadline and a
process that dies while it is awaited fails the wait with its log.

Two nodes: ``kwok-node`` (tainted, KWOK fakes the status of whatever pods tolerate it)
and ``dome-local``, whose pods ``local_kubelet`` runs as real processes. The node
lifecycle controller is off: nothing here plays a kubelet's heartbeats, and no test is
about node failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kube_api import ApiError, Kube
from kube_certs import Certificates, make_certificates

from processes import dying_with_parent, stop_process

REPO = Path(__file__).resolve().parents[2]
VERSIONS = REPO / "k8s" / "versions.env"
LOCALHOST = "127.0.0.1"
KWOK_NODE = "kwok-node"
LOCAL_NODE = "dome-local"
#: The taint that keeps every pod off the KWOK node unless it says it only needs to exist.
KWOK_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
#: What a pod on either node may use: more than the suite's pods request.
CAPACITY = {"cpu": "16", "memory": "64Gi", "pods": "110"}
_START_DEADLINE = 120.0


def pins() -> dict[str, str]:
    values = {}
    for line in VERSIONS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value.strip()
    return values


def binaries() -> Path:
    """Where ``make k8s`` put the binaries (they may not be there)."""
    cache = Path(os.environ.get("DOME_K8S_CACHE", Path.home() / ".cache" / "dome" / "k8s"))
    return cache / pins()["KUBE_VERSION"] / "bin"


def missing_reason() -> str | None:
    """Why the suite cannot run here, or None. Only a missing Go is a reason to skip."""
    if shutil.which("go") is None:
        return "no Go toolchain: `make k8s` cannot build the Kubernetes control plane"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Component:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                dying_with_parent(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise AssertionError(
                f"{self.name} exited {self.popen.returncode}; the end of {self.log_path}:\n"
                + self.log_path.read_text(errors="replace")[-4000:]
            )


@dataclass
class ControlPlane:
    root: Path
    bin: Path
    certs: Certificates
    api: Kube
    kubeconfig: Path
    components: list[Component] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.api.url

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        """The built kubectl against this control plane; its output, or its error."""
        result = subprocess.run(
            [str(self.bin / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr or result.stdout}")
        return result.stdout if result.returncode == 0 else result.stderr

    def check_alive(self) -> None:
        for component in self.components:
            component.check_alive()

    def wait(self, condition: Callable[[], Any], what: str, within: float = 60.0) -> Any:
        """Poll ``condition`` until truthy; fail naming ``what``, or a component that died."""
        deadline = time.monotonic() + within
        while True:
            self.check_alive()
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within}s waiting for {what}")
            time.sleep(0.1)  # a polling interval; the deadline bounds the wait

    def token(self, namespace: str, service_account: str, seconds: int = 3600) -> str:
        """A bound token for the ServiceAccount, from TokenRequest, as the kubelet gets it."""
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": seconds}}  # fmt: skip
        token: str = self.api.create(path, body)["status"]["token"]
        return token

    def stop(self) -> list[str]:
        """Stop every component, last started first; the names of any still running."""
        for component in reversed(self.components):
            if component.popen is not None:
                stop_process(component.popen, grace=10)
        return [c.name for c in self.components if c.popen and c.popen.poll() is None]


def _kubeconfig(path: Path, url: str, certs: Certificates) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dome-test", "cluster": {"server": url,
                                                       "certificate-authority": str(certs.ca)}}],
        "users": [{"name": "admin", "user": {"client-certificate": str(certs.admin_cert),
                                             "client-key": str(certs.admin_key)}}],
        "contexts": [{"name": "dome-test", "context": {"cluster": "dome-test", "user": "admin"}}],
        "current-context": "dome-test",
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config))
    return path


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _stages(root: Path, bin_dir: Path) -> Path:
    """KWOK's own fast node and pod stages (k8s/build.sh copies them from its module)."""
    stages = bin_dir / "kwok-stages.yaml"
    if not stages.exists():
        raise AssertionError(f"{stages} is missing: run `make k8s`")
    return stages


@contextmanager
def control_plane(root: Path) -> Iterator[ControlPlane]:
    """Start the control plane under ``root``; stop it, checking nothing is left running."""
    bin_dir = binaries()
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
                 "kubectl"):  # fmt: skip
        if not (bin_dir / name).exists():
            raise AssertionError(f"{bin_dir / name} is missing: run `make k8s`")
    certs = make_certificates(root / "pki")
    ports = {name: free_port() for name in ("etcd", "peer", "api", "kcm", "scheduler", "kwok")}
    url = f"https://{LOCALHOST}:{ports['api']}"
    kubeconfig = _kubeconfig(root / "admin.kubeconfig", url, certs)
    api = Kube(url, certs.ca, certs.admin_cert, certs.admin_key)
    plane = ControlPlane(root, bin_dir, certs, api, kubeconfig)
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # the components' own self-signed serving certs

    def start(name: str, argv: list[str], ready: Callable[[], bool], what: str) -> None:
        component = Component(name, [str(bin_dir / argv[0]), *argv[1:]], logs / f"{name}.log")
        plane.components.append(component)
        component.start()
        plane.wait(ready, what, _START_DEADLINE)

    etcd_url = f"http://{LOCALHOST}:{ports['etcd']}"
    peer_url = f"http://{LOCALHOST}:{ports['peer']}"
    client = ["--bind-address=127.0.0.1", f"--kubeconfig={kubeconfig}",
              f"--authentication-kubeconfig={kubeconfig}",
              f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false"]  # fmt: skip
    try:
        start(
            "etcd",
            ["etcd", "--name=dome-test", f"--data-dir={root / 'etcd'}",
             f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
             f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
             f"--initial-cluster=dome-test={peer_url}", "--log-level=warn",
             # A test cluster that is thrown away: no fsync, as kwokctl and kind's CI do.
             "--unsafe-no-fsync"],
            lambda: _http_ok(f"{etcd_url}/health"),
            "etcd's /health",
        )  # fmt: skip
        start(
            "kube-apiserver",
            ["kube-apiserver", f"--etcd-servers={etcd_url}", "--bind-address=127.0.0.1",
             "--advertise-address=127.0.0.1", f"--secure-port={ports['api']}",
             f"--cert-dir={root / 'apiserver'}",
             f"--tls-cert-file={certs.serving_cert}", f"--tls-private-key-file={certs.serving_key}",
             f"--client-ca-file={certs.ca}", "--authorization-mode=RBAC",
             "--service-account-issuer=https://kubernetes.default.svc",
             f"--service-account-key-file={certs.service_account_pub}",
             f"--service-account-signing-key-file={certs.service_account_key}",
             # An allocation range for Service IPs: nothing listens on it.
             "--service-cluster-ip-range=10.96.0.0/16",
             # The kubernetes Service's endpoint would be 127.0.0.1, which Endpoints refuse.
             "--endpoint-reconciler-type=none",
             "--enable-priority-and-fairness=false", "--profiling=false"],
            lambda: _api_ready(api),
            "kube-apiserver's /readyz",
        )  # fmt: skip
        start(
            "kube-controller-manager",
            ["kube-controller-manager", *client, f"--secure-port={ports['kcm']}",
             f"--cert-dir={root / 'kcm'}", f"--root-ca-file={certs.ca}",
             f"--service-account-private-key-file={certs.service_account_key}",
             "--controllers=*,-node-lifecycle-controller"],
            lambda: _http_ok(f"https://{LOCALHOST}:{ports['kcm']}/healthz", insecure)
            and api.find("/api/v1/namespaces/default/serviceaccounts/default") is not None,
            "kube-controller-manager's /healthz and the default ServiceAccount",
        )  # fmt: skip
        start(
            "kube-scheduler",
            ["kube-scheduler", *client, f"--secure-port={ports['scheduler']}"],
            lambda: _http_ok(f"https://{LOCALHOST}:{ports['scheduler']}/readyz", insecure),
            "kube-scheduler's /readyz",
        )
        api.create("/api/v1/nodes", _node(KWOK_NODE, {"type": "kwok"}, [KWOK_TAINT]))
        start(
            "kwok",
            ["kwok", f"--kubeconfig={kubeconfig}", f"--config={_stages(root, bin_dir)}",
             "--manage-nodes-with-label-selector=type=kwok", "--node-ip=127.0.0.1",
             f"--server-address={LOCALHOST}:{ports['kwok']}"],
            lambda: _node_ready(api, KWOK_NODE),
            f"KWOK to make {KWOK_NODE} Ready",
        )  # fmt: skip
        api.create("/api/v1/nodes", _node(LOCAL_NODE, {"type": "dome-local"}, []))
        api.merge_patch(f"/api/v1/nodes/{LOCAL_NODE}/status", {"status": _node_status()})
        # The TaintNodesByCondition admission plugin gives every new node the not-ready
        # taint, which the node lifecycle controller (off here) lifts once it is Ready.
        api.merge_patch(f"/api/v1/nodes/{KWOK_NODE}", {"spec": {"taints": [KWOK_TAINT]}})
        api.merge_patch(f"/api/v1/nodes/{LOCAL_NODE}", {"spec": {"taints": []}})
        yield plane
    finally:
        left = plane.stop()
        assert not left, f"control plane processes still running after stop: {left}"


def _api_ready(api: Kube) -> bool:
    try:
        return bool(api.request("GET", "/readyz", raw=True) == "ok")
    except (OSError, ApiError):  # not listening yet; 500 while post-start hooks run
        return False


def _node(name: str, labels: dict[str, str], taints: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "spec": {"taints": taints},
    }


def _node_status() -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "capacity": CAPACITY,
        "allocatable": CAPACITY,
        "addresses": [{"type": "InternalIP", "address": LOCALHOST}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "LocalProcesses",
                        "message": "pods run as local processes by tests/kube",
                        "lastHeartbeatTime": now, "lastTransitionTime": now}],
    }  # fmt: skip


def _node_ready(api: Kube, name: str) -> bool:
    node = api.find(f"/api/v1/nodes/{name}") or {}
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in node.get("status", {}).get("conditions", [])
    )


def persistent_volumes(plane: ControlPlane, root: Path, count: int, size: str = "10Gi") -> None:
    """``count`` hostPath PersistentVolumes with no class, for the engines' claims to bind.

    The claims name no storage class and there is no default one, so the controller
    manager's binder matches them to these, as a static provisioning admin would.
    """
    for index in range(count):
        directory = root / f"pv-{index}"
        directory.mkdir(parents=True)
        plane.api.create("/api/v1/persistentvolumes", {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"local-pv-{index}"},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Retain",
                     "hostPath": {"path": str(directory), "type": "Directory"}},
        })  # fmt: skip


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
