"""The pods an operator render describes, run as local processes: a kubelet for localhost.

``local_pods`` takes the rendered objects and gives one ``LocalPod`` per pod the
Deployments and StatefulSets would create: the container's own ``command``, ``args`` and
``env``, with only what a pod provides and a shared localhost cannot translated. The
translations are tabled in test_rendered_exchange_runs.py's docstring; anything else on
the command line is used as rendered, and an input the table does not cover (an env
source, a volume kind, a Service name left on the command line, a port flag that is not
the declared port) is an error, not a silent pass.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_hex
from typing import Any

import aiohttp.test_utils
import kmock
from kube_emulator import RESOURCES, ClusterEmulator

from dome import files
from processes import dying_with_parent, stop_process

DOME = str(Path(sys.executable).with_name("dome"))
LEASES = ("coordination.k8s.io/v1/leases", "Lease", True, set[str]())
LOCALHOST = "127.0.0.1"
#: Flags that carry a container port, by the name the container declares it under.
PORT_FLAGS = {
    "--port": "grpc",
    "--peer-port": "peer",
    "--metrics-port": "metrics",
    "--health-port": "health",
}
#: Where a pod that calls the Kubernetes API finds its token, CA and namespace.
SERVICE_ACCOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
#: The downward API fields the rendered pods use.
_FIELD_REFS = ("metadata.name", "metadata.namespace", "status.podIP")
#: A ClusterIP Service in front of several pods: (the Service, its port's name, the
#: selected pods' local ports for it) -> a local address that balances over them.
Balance = Callable[[Mapping[str, Any], str, list[int]], str]
#: Inherited from the test's environment: what a process needs to run at all. Nothing
#: else leaks in (no KUBERNETES_*, DOME_*): a pod's environment is what it declares.
_HOST_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass
class ApiServer:
    """The Kubernetes API as a pod sees it: where, the CA that signs it, a token."""

    emulator: ClusterEmulator
    host: str
    port: int
    ca_file: Path
    token: str


@contextlib.asynccontextmanager
async def tls_api_server(directory: Path) -> AsyncIterator[ApiServer]:
    """The repo's Kubernetes emulator, serving Leases too, over HTTPS with its own CA.

    In a cluster the API server's certificate is signed by the CA in the service
    account's ``ca.crt``; here a self-signed certificate for 127.0.0.1 plays both.
    """
    cert, key = await asyncio.to_thread(_self_signed_certificate, directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    class TLSServer(aiohttp.test_utils.RawTestServer):
        async def start_server(
            self, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any
        ) -> None:
            await super().start_server(loop, ssl=context, **kwargs)

    async with (
        ClusterEmulator() as emulator,
        kmock.Server(emulator, server_cls=TLSServer) as server,
    ):
        emulator.declare(*RESOURCES, LEASES)
        yield ApiServer(emulator, LOCALHOST, server.port, cert, token_hex(16))


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A key and a certificate for 127.0.0.1, signed by itself (so also its own CA)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is needed to make the API server's certificate")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "apiserver.crt", directory / "apiserver.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=kube-apiserver",
         "-addext", f"subjectAltName=IP:{LOCALHOST},DNS:kubernetes.default.svc",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def free_port() -> int:
    """A port free on every interface (the rendered processes bind 0.0.0.0)."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LocalPod:
    """One pod's container as a local process."""

    name: str
    #: The workload's component (``discovery``, ``engine``).
    component: str
    argv: list[str]
    env: dict[str, str]
    #: Container port name -> local port.
    ports: dict[str, int]
    #: Mount path in the pod -> local directory.
    mounts: dict[str, Path]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        """host:port of the pod's gRPC port."""
        return f"{LOCALHOST}:{self.ports['grpc']}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                dying_with_parent(self.argv), stdout=log, stderr=subprocess.STDOUT, env=self.env
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise AssertionError(
                f"{self.name} exited {self.popen.returncode}:\n{self.log(last=4000)}"
            )

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds, as the kubelet stops a pod.

        Waits in a thread: the API server the processes talk to shares this event loop.
        """
        if self.popen is not None:
            await asyncio.to_thread(stop_process, self.popen, signal.SIGTERM, grace)

    def log(self, last: int = 20_000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-last:]
        except FileNotFoundError:
            return ""


def local_pods(
    objects: Iterable[Mapping[str, Any]],
    *,
    secrets: Iterable[Mapping[str, Any]],
    api: ApiServer,
    root: Path,
    balance: Balance | None = None,
) -> dict[str, LocalPod]:
    """Every pod of the rendered Deployments and StatefulSets, by pod name, not started.

    ``secrets`` are Secret manifests the Exchange refers to but the operator does not
    render (the accounts). Pods are returned discovery first, in workload order.
    ``balance`` gives the address of a Service that selects several pods (without it,
    naming one on a command line is an error): tcp_balancer.py plays kube-proxy.
    """
    objects = list(objects)
    config_maps = {o["metadata"]["name"]: dict(o.get("data", {}))
                   for o in objects if o["kind"] == "ConfigMap"}  # fmt: skip
    secret_data = {s["metadata"]["name"]: _secret_items(s) for s in secrets}
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    pods: dict[str, LocalPod] = {}
    labels: dict[str, Mapping[str, str]] = {}
    for workload in workloads:
        template = workload["spec"]["template"]
        (container,) = template["spec"]["containers"]
        for pod_name in _pod_names(workload):
            ports = {port["name"]: free_port() for port in container["ports"]}
            pods[pod_name] = LocalPod(
                name=pod_name,
                component=container["name"],
                argv=[],
                env={},
                ports=ports,
                mounts={},
                log_path=root / f"{pod_name}.log",
            )
            labels[pod_name] = template["metadata"]["labels"]
    dns = _cluster_dns(objects, pods, labels, balance)
    for workload in workloads:
        namespace = workload["metadata"]["namespace"]
        pod_spec = workload["spec"]["template"]["spec"]
        (container,) = pod_spec["containers"]
        for pod_name in _pod_names(workload):
            pod = pods[pod_name]
            pod_root = root / pod_name
            pod.mounts = _mount(workload, container, pod_root, config_maps, secret_data)
            env = _env(container, pod_name, namespace)
            env |= {"KUBERNETES_SERVICE_HOST": api.host, "KUBERNETES_SERVICE_PORT": str(api.port)}
            if pod_spec.get("automountServiceAccountToken", True):
                env["DOME_SERVICE_ACCOUNT_DIR"] = str(
                    _service_account(pod_root / "serviceaccount", api, namespace)
                )
            elif SERVICE_ACCOUNT_PATH in pod.mounts:
                # A projected token volume mounted where client libraries look.
                env["DOME_SERVICE_ACCOUNT_DIR"] = str(
                    _service_account(pod.mounts[SERVICE_ACCOUNT_PATH], api, namespace)
                )
            command = [_expand(arg, env) for arg in container["command"]]
            args = [_expand(arg, env) for arg in container.get("args", [])]
            assert command == ["dome"], f"{pod_name}: unexpected command {command}"
            args = _rewrite_ports(args, container, pod)
            args = [dns.get(arg, arg) for arg in args]
            args = [_rewrite_path(arg, pod.mounts) for arg in args]
            unresolved = [arg for arg in args if ".svc" in arg]
            assert not unresolved, f"{pod_name}: no local address for {unresolved}"
            pod.argv = [DOME, *args]
            pod.env = {k: os.environ[k] for k in _HOST_ENV if k in os.environ} | env
    return pods


def _pod_names(workload: Mapping[str, Any]) -> list[str]:
    name = workload["metadata"]["name"]
    replicas = workload["spec"]["replicas"]
    if workload["kind"] == "StatefulSet":
        return [f"{name}-{ordinal}" for ordinal in range(replicas)]
    # A Deployment's pods are NAME-<template hash>-<random>; a fixed stand-in suffices.
    return [f"{name}-local-{index}" for index in range(replicas)]


def _secret_items(secret: Mapping[str, Any]) -> dict[str, str]:
    items = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    return items | dict(secret.get("stringData", {}))


def _cluster_dns(
    objects: list[Mapping[str, Any]],
    pods: Mapping[str, LocalPod],
    labels: Mapping[str, Mapping[str, str]],
    balance: Balance | None = None,
) -> dict[str, str]:
    """``name:port`` as cluster DNS and the Services resolve it -> ``127.0.0.1:port``.

    A ClusterIP Service with one pod behind it is that pod's port; with several, the
    address ``balance`` gives (when given), as kube-proxy spreads connections over them.
    """
    resolved: dict[str, str] = {}
    for service in (o for o in objects if o["kind"] == "Service"):
        name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
        spec = service["spec"]
        selected = [
            pod for pod_name, pod in pods.items()
            if all(labels[pod_name].get(k) == v for k, v in spec["selector"].items())
        ]  # fmt: skip
        for port in spec["ports"]:
            target = port["targetPort"]
            assert isinstance(target, str), f"{name}: targetPort by number is not translated"
            if spec.get("clusterIP") == "None":
                for pod in selected:
                    host = f"{pod.name}.{name}.{namespace}.svc:{port['port']}"
                    resolved[host] = f"{LOCALHOST}:{pod.ports[target]}"
            elif len(selected) == 1:
                host = f"{name}.{namespace}.svc:{port['port']}"
                resolved[host] = f"{LOCALHOST}:{selected[0].ports[target]}"
            elif selected and balance is not None:
                host = f"{name}.{namespace}.svc:{port['port']}"
                resolved[host] = balance(service, port["name"], [p.ports[target] for p in selected])
            # Otherwise no command line may name it: the unresolved check says so.
    return resolved


def _env(container: Mapping[str, Any], pod_name: str, namespace: str) -> dict[str, str]:
    # Every pod shares the host's loopback: that is its IP here.
    fields = {"metadata.name": pod_name, "metadata.namespace": namespace,
              "status.podIP": LOCALHOST}  # fmt: skip
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = _expand(item["value"], env)
            continue
        ref = item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        assert ref in _FIELD_REFS, f"env {item['name']}: {item} is not translated"
        env[item["name"]] = fields[ref]
    return env


def _expand(text: str, env: Mapping[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion: defined names are replaced, others kept."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR.sub(one, text)


def _mount(
    workload: Mapping[str, Any],
    container: Mapping[str, Any],
    pod_root: Path,
    config_maps: Mapping[str, Mapping[str, str]],
    secret_data: Mapping[str, Mapping[str, str]],
) -> dict[str, Path]:
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"].get("volumes", [])}
    claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])}
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts", []):
        directory = pod_root / "volumes" / mount["name"]
        directory.mkdir(parents=True, exist_ok=True)
        mounts[mount["mountPath"]] = directory
        if mount["name"] in claims:
            continue  # a PersistentVolume: starts empty, kept for the pod
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            continue
        if "projected" in volume:
            sources = [next(iter(source)) for source in volume["projected"]["sources"]]
            assert mount["mountPath"] == SERVICE_ACCOUNT_PATH, f"volume {volume} not translated"
            assert sources == ["serviceAccountToken", "configMap", "downwardAPI"], sources
            continue  # filled with the emulator's token, CA and namespace by the caller
        if "configMap" in volume:
            source = volume["configMap"]
            _project(directory, config_maps[source["name"]], source.get("items"), 0o644)
        elif "secret" in volume:
            source = volume["secret"]
            data = secret_data[source["secretName"]]
            mode = source.get("defaultMode", 0o644)
            _project(directory, data, source.get("items"), mode)
        else:
            raise AssertionError(f"volume {volume} is not translated")
    return mounts


def _project(
    directory: Path, data: Mapping[str, str], items: list[dict[str, str]] | None, mode: int
) -> None:
    """Files of a ConfigMap or Secret volume: the listed items, or every key."""
    pairs = [(i["key"], i["path"]) for i in items] if items else [(k, k) for k in data]
    for key, path in pairs:
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data[key])
        target.chmod(mode)


def _service_account(directory: Path, api: ApiServer, namespace: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    token = directory / "token"
    # A running pod's token stays its own (the local kubelet gives each pod its
    # ServiceAccount's): translating the workload again for a pod that starts later
    # must not swap another login under a process that is using it.
    if not token.exists():
        files.write_text(token, api.token, private=True)  # atomic, as the kubelet's
    (directory / "ca.crt").write_bytes(api.ca_file.read_bytes())
    (directory / "namespace").write_text(namespace)
    return directory


def _rewrite_ports(args: list[str], container: Mapping[str, Any], pod: LocalPod) -> list[str]:
    declared = {p["name"]: p["containerPort"] for p in container["ports"]}
    out = list(args)
    for index, arg in enumerate(args[:-1]):
        if arg in PORT_FLAGS:
            name = PORT_FLAGS[arg]
            assert out[index + 1] == str(declared[name]), (
                f"{pod.name}: {arg} {out[index + 1]} is not the declared {name} port"
            )
            out[index + 1] = str(pod.ports[name])
    return out


def _rewrite_path(arg: str, mounts: Mapping[str, Path]) -> str:
    for mount_path in sorted(mounts, key=len, reverse=True):
        if arg == mount_path or arg.startswith(mount_path.rstrip("/") + "/"):
            return str(mounts[mount_path]) + arg[len(mount_path) :]
    return arg
