"""A kubelet for the ``dome-local`` node: its pods run as real local processes.

A thread polls the API server for the pods the scheduler bound to ``dome-local`` and
does what a kubelet does with them, in the small: start the container as a process,
report the pod Running, Ready from the pod's own gRPC readiness probe (the standard
health service on the translated port), restart a container that exits, and on
deletion stop the process (SIGTERM, SIGKILL after the pod's grace period) and remove
the pod. A claim's mount is the hostPath directory of the PersistentVolume the claim
is bound to, so data survives a pod exactly as far as its volume does.

The translation of a pod into a process (command, args, env, mounts, ports, Service
names) is tests/operator/local_pods.py's, run over the objects the API server holds.
Each pod keeps its ports for the session (``ports``), so every command line that
names another pod, through a headless Service or a ClusterIP one, names the same port.
A Deployment's pods are mapped onto local_pods' stand-in names (``NAME-local-0``) in
order; their own name is put back in the environment and arguments.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from control_plane import LOCAL_NODE, LOCALHOST, ControlPlane, free_port
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kube_api import ApiError, Kube

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))
import local_pods as translation
from local_pods import ApiServer, LocalPod
from service_proxy import open_service_proxy
from tcp_balancer import TcpBalancer

from dome import files
from processes import stop_process

_POLL = 0.2
_WORKLOADS = (("apps/v1", "statefulsets"), ("apps/v1", "deployments"))


@dataclass
class Running:
    """One pod of ``dome-local`` and its process."""

    uid: str
    name: str
    namespace: str
    process: LocalPod
    #: The readiness probe's local port and gRPC health service (None: no probe).
    probe: tuple[int, str] | None
    ready: bool = False
    restarts: int = 0
    started: str = ""


@dataclass
class LocalKubelet:
    plane: ControlPlane
    root: Path
    #: (namespace, pod name as translated) -> container port name -> local port.
    ports: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    running: dict[str, Running] = field(default_factory=dict)
    #: (namespace, ServiceAccount) -> a bound token for it (an hour: the session's length).
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: (namespace, Service, port name) -> its proxy, for Services with several pods.
    proxies: dict[tuple[str, str, str], TcpBalancer] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, namespace: str, pod: str, port_name: str) -> int:
        """The local port ``pod`` will get for ``port_name`` (chosen now if need be)."""
        with self._lock:
            ports = self.ports.setdefault((namespace, pod), {})
            return ports.setdefault(port_name, free_port())

    def service_address(self, service: Mapping[str, Any], port_name: str,
                        _ports: list[int]) -> str:  # fmt: skip
        """Where command lines reach a Service with several pods: its proxy over the
        pods that are Ready now, opened once for the session (stable like a ClusterIP)."""
        meta = service["metadata"]
        key = (meta["namespace"], meta["name"], port_name)
        with self._lock:
            if key not in self.proxies:
                self.proxies[key] = open_service_proxy(self.plane, self, *key)
            return self.proxies[key].address

    def process(self, name: str, namespace: str = "trading") -> Running | None:
        return next(
            (r for r in self.running.values() if r.name == name and r.namespace == namespace),
            None,
        )

    def check(self) -> None:
        """Fail with what went wrong in the kubelet's thread, if anything did."""
        if self.errors:
            raise AssertionError("local kubelet failed:\n" + "\n".join(self.errors))

    # The loop.

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync()
            except Exception:  # reported through check(); the loop goes on
                self.errors.append(traceback.format_exc())
            self._stop.wait(_POLL)  # the kubelet's sync period

    def _sync(self) -> None:
        api = self.plane.api
        pods = api.items("/api/v1/pods?fieldSelector=spec.nodeName%3D" + LOCAL_NODE)
        seen = set()
        for pod in pods:
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            entry = self.running.get(uid)
            if pod["metadata"].get("deletionTimestamp"):
                self._terminate(pod, entry)
            elif entry is None:
                self._start(pod)
            else:
                self._tend(pod, entry)
        for uid in set(self.running) - seen:  # removed without a graceful delete
            self._kill(self.running.pop(uid), grace=0)

    def _start(self, pod: Mapping[str, Any]) -> None:
        meta = pod["metadata"]
        process = self._translate(pod)
        probe = _readiness_probe(pod, process)
        entry = Running(meta["uid"], meta["name"], meta["namespace"], process, probe)
        entry.started = _now()
        process.start()
        self.running[entry.uid] = entry
        self._report(pod, entry)

    def _tend(self, pod: Mapping[str, Any], entry: Running) -> None:
        if not entry.process.alive():
            # restartPolicy Always: the container is started again, as the kubelet does.
            entry.restarts += 1
            entry.ready = False
            entry.process.start()
        ready = entry.probe is None or _serving(*entry.probe)
        if ready != entry.ready or _reported_ready(pod) != ready:
            entry.ready = ready
            self._report(pod, entry)

    def _terminate(self, pod: Mapping[str, Any], entry: Running | None) -> None:
        meta = pod["metadata"]
        if entry is not None:
            self.running.pop(entry.uid)
            self._kill(entry, grace=float(meta.get("deletionGracePeriodSeconds") or 30))
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        try:
            self.plane.api.delete(path, {"gracePeriodSeconds": 0,
                                         "preconditions": {"uid": meta["uid"]}})  # fmt: skip
        except ApiError as error:
            if error.status not in (404, 409):
                raise

    def _kill(self, entry: Running, grace: float) -> None:
        popen = entry.process.popen
        if popen is not None:
            stop_process(popen, grace=max(grace, 0.1))

    def _report(self, pod: Mapping[str, Any], entry: Running) -> None:
        meta = pod["metadata"]
        ready = "True" if entry.ready else "False"
        now = _now()
        status = {
            "phase": "Running",
            "hostIP": LOCALHOST,
            "podIP": LOCALHOST,
            "podIPs": [{"ip": LOCALHOST}],
            "startTime": entry.started,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": entry.started},
                {"type": "Initialized", "status": "True", "lastTransitionTime": entry.started},
                {"type": "ContainersReady", "status": ready, "lastTransitionTime": now},
                {"type": "Ready", "status": ready, "lastTransitionTime": now},
            ],
            "containerStatuses": [
                {"name": c["name"], "image": c["image"], "imageID": "", "ready": entry.ready,
                 "started": True, "restartCount": entry.restarts,
                 "state": {"running": {"startedAt": entry.started}}}
                for c in pod["spec"]["containers"]
            ],
        }  # fmt: skip
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
        try:
            self.plane.api.merge_patch(path, {"status": status})
        except ApiError as error:
            if error.status != 404:
                raise

    # The translation.

    def _translate(self, pod: Mapping[str, Any]) -> LocalPod:
        """``pod`` as local_pods translates its workload, with this session's ports."""
        namespace = pod["metadata"]["namespace"]
        api = self.plane.api
        objects: list[dict[str, Any]] = []
        for kind, plural in (("ConfigMap", "configmaps"), ("Service", "services")):
            for item in api.items(f"/api/v1/namespaces/{namespace}/{plural}"):
                objects.append({**item, "kind": kind, "apiVersion": "v1"})
        stand_ins: dict[str, str] = {}
        owner = _owner(api, pod)
        for version, plural in _WORKLOADS:
            for item in api.items(f"/apis/{version}/namespaces/{namespace}/{plural}"):
                kind = "StatefulSet" if plural == "statefulsets" else "Deployment"
                workload = {**item, "kind": kind, "apiVersion": version}
                # Enough ordinals for every pod that exists, whatever spec.replicas says now.
                live = self._pods_of(namespace, workload)
                replicas = max(item["spec"].get("replicas", 1), len(live), 1)
                if kind == "StatefulSet":
                    replicas = max([replicas, *(int(n.rsplit("-", 1)[1]) + 1 for n in live)])
                else:
                    for index, name in enumerate(sorted(live)):
                        stand_ins[name] = f"{item['metadata']['name']}-local-{index}"
                workload["spec"] = {**item["spec"], "replicas": replicas}
                objects.append(workload)
        secrets = api.items(f"/api/v1/namespaces/{namespace}/secrets")
        name = pod["metadata"]["name"]
        translated_name = stand_ins.get(name, name)
        # local_pods writes one token into every pod's service-account directory; each
        # then gets its own ServiceAccount's, as the kubelet's projected volume would.
        server = ApiServer(None, LOCALHOST, int(self.plane.url.rsplit(":", 1)[1]),  # type: ignore[arg-type]
                           self.plane.certs.ca, "")  # fmt: skip
        pods = self._with_stable_ports(namespace, objects, secrets, server)
        accounts = {
            translated: workload["spec"]["template"]["spec"].get("serviceAccountName", "default")
            for workload in objects if workload["kind"] in ("Deployment", "StatefulSet")
            for translated in translation._pod_names(workload)
        }  # fmt: skip
        for translated, local in pods.items():
            directory = local.env.get("DOME_SERVICE_ACCOUNT_DIR")
            if directory:
                token = self._token(namespace, accounts[translated])
                files.write_text(Path(directory) / "token", token, private=True)
        if translated_name not in pods:
            raise AssertionError(f"{name} (owner {owner}) is not among {sorted(pods)}")
        process = pods[translated_name]
        self._mount_volumes(pod, process)
        if translated_name != name:
            # The downward API's name, and what was expanded from it; not the local paths,
            # which local_pods made under the stand-in name.
            local = str(self.root)
            process.argv = [a if local in a else a.replace(translated_name, name)
                            for a in process.argv]  # fmt: skip
            process.env = {k: v if local in v else v.replace(translated_name, name)
                           for k, v in process.env.items()}  # fmt: skip
        process.name = name
        return process

    def _token(self, namespace: str, account: str) -> str:
        if (namespace, account) not in self.tokens:
            self.tokens[namespace, account] = self.plane.token(namespace, account)
        return self.tokens[namespace, account]

    def _pods_of(self, namespace: str, workload: Mapping[str, Any]) -> list[str]:
        selector = workload["spec"]["selector"]["matchLabels"]
        query = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        pods = self.plane.api.items(f"/api/v1/namespaces/{namespace}/pods", query)
        return [p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")]

    def _with_stable_ports(
        self,
        namespace: str,
        objects: list[dict[str, Any]],
        secrets: list[dict[str, Any]],
        server: ApiServer,
    ) -> dict[str, LocalPod]:
        """local_pods, its ``free_port`` answered from ``self.ports`` in the order it asks.

        local_pods asks once per port of each container, pod by pod, workload by workload;
        the ports it returns are checked against the plan, so a change in that order
        fails here instead of wiring pods to each other's ports.
        """
        plan: list[int] = []
        expected: dict[str, dict[str, int]] = {}
        for workload in (o for o in objects if o["kind"] in ("Deployment", "StatefulSet")):
            (container,) = workload["spec"]["template"]["spec"]["containers"]
            for pod_name in translation._pod_names(workload):
                expected[pod_name] = {}
                for port in container["ports"]:
                    number = self.reserve(namespace, pod_name, port["name"])
                    expected[pod_name][port["name"]] = number
                    plan.append(number)
        answers = iter(plan)
        original = translation.free_port
        translation.free_port = lambda: next(answers)
        try:
            pods = translation.local_pods(objects, secrets=secrets, api=server,
                                          root=self.root / namespace,
                                          balance=self.service_address)  # fmt: skip
        finally:
            translation.free_port = original
        for name, pod in pods.items():
            assert pod.ports == expected[name], (name, pod.ports, expected[name])
        return pods

    def _mount_volumes(self, pod: Mapping[str, Any], process: LocalPod) -> None:
        """Point each claim's mount at its bound PersistentVolume's directory."""
        namespace = pod["metadata"]["namespace"]
        volumes = pod["spec"].get("volumes", [])
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
                  for v in volumes if "persistentVolumeClaim" in v}  # fmt: skip
        (container,) = pod["spec"]["containers"]
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in claims:
                continue
            claim = self.plane.api.get(
                f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claims[mount['name']]}"
            )
            volume_name = claim["spec"].get("volumeName")
            assert volume_name, f"{claims[mount['name']]} is not bound"
            volume = self.plane.api.get(f"/api/v1/persistentvolumes/{volume_name}")
            target = Path(volume["spec"]["hostPath"]["path"])
            local = process.mounts[mount["mountPath"]]
            if local.is_symlink():
                if local.resolve() == target.resolve():
                    continue
                local.unlink()
            elif local.exists():
                local.rmdir()  # local_pods' empty stand-in directory
            local.symlink_to(target, target_is_directory=True)

    # Stopping.

    def stop(self) -> list[str]:
        """Stop the loop and every process; the names of any still running."""
        self._stop.set()
        for entry in list(self.running.values()):
            self._kill(entry, grace=10)
        for proxy in self.proxies.values():
            proxy.close()
        return [e.name for e in self.running.values() if e.process.alive()]


def _owner(api: Kube, pod: Mapping[str, Any]) -> str:
    refs = pod["metadata"].get("ownerReferences", [])
    return ",".join(f"{r['kind']}/{r['name']}" for r in refs) or "none"


def _readiness_probe(pod: Mapping[str, Any], process: LocalPod) -> tuple[int, str] | None:
    """The local port and service of the container's gRPC readiness probe (None: none)."""
    (container,) = pod["spec"]["containers"]
    probe = container.get("readinessProbe", {}).get("grpc")
    if probe is None:
        return None
    by_number = {p["containerPort"]: p["name"] for p in container["ports"]}
    return process.ports[by_number[probe["port"]]], probe.get("service", "")


def _serving(port: int, service: str) -> bool:
    """What the kubelet's gRPC probe asks: plaintext, no certificate, ``service``."""
    with grpc.insecure_channel(f"{LOCALHOST}:{port}") as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1
            )
        except grpc.RpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def _reported_ready(pod: Mapping[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@contextmanager
def local_kubelet(plane: ControlPlane, root: Path) -> Iterator[LocalKubelet]:
    kubelet = LocalKubelet(plane, root)
    thread = threading.Thread(target=kubelet.run, name="local-kubelet", daemon=True)
    thread.start()
    try:
        yield kubelet
    finally:
        left = kubelet.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the local kubelet's thread did not stop"
        assert not left, f"pod processes still running after stop: {left}"
