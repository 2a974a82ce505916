"""charts/dome installed with the real helm, and the operator it describes run locally.

The chart's operator Deployment is scheduled onto the KWOK node (a toleration and a
nodeSelector through the chart's own values): its pod only needs to exist, and KWOK
reports it Running. The operator that does the work is ``dome-operator`` from this
checkout, started with the arguments the chart gives its container and logged in with
a token of the chart's ServiceAccount (TokenRequest, as the kubelet's projected volume
gets it), so every call it makes is authorised by the chart's Role and ClusterRole in
the real API server, not by an administrator's certificate.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from control_plane import KWOK_TAINT, REPO, ControlPlane, free_port

from processes import dying_with_parent, stop_process

CHART = REPO / "charts" / "dome"
RELEASE = "dome"
RELEASE_NAMESPACE = "dome-system"
#: The namespace the operator watches and the Exchanges live in.
NAMESPACE = "trading"
CRD = "exchanges.dome.dev"
DOME_OPERATOR = str(Path(sys.executable).with_name("dome-operator"))


@dataclass
class Chart:
    release: str
    namespace: str
    service_account: str
    #: The operator container's arguments as the chart renders them.
    operator_args: list[str]


def helm() -> str:
    found = shutil.which("helm") or str(REPO / ".tools" / "bin" / "helm")
    if not Path(found).exists():
        raise AssertionError("helm is missing: `make tools` installs it into .tools/bin")
    return found


def install_chart(plane: ControlPlane) -> Chart:
    """``helm install`` charts/dome (CRD included) and wait until its Deployment is up."""
    for namespace in (RELEASE_NAMESPACE, NAMESPACE):
        plane.api.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    values = {
        "watchNamespaces": [NAMESPACE],
        "tolerations": [{**KWOK_TAINT, "operator": "Equal"}],
        "nodeSelector": {"type": "kwok"},
    }
    values_file = plane.root / "chart-values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    installed = subprocess.run(
        [helm(), "install", RELEASE, str(CHART), f"--namespace={RELEASE_NAMESPACE}",
         f"--values={values_file}", "--wait", "--timeout=180s"],
        capture_output=True, text=True, timeout=240,
        env={"KUBECONFIG": str(plane.kubeconfig), "HOME": str(plane.root), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert installed.returncode == 0, f"helm install: {installed.stderr}{installed.stdout}"
    plane.wait(lambda: crd_established(plane), f"CRD {CRD} Established", 60)
    deployment = plane.api.get(
        f"/apis/apps/v1/namespaces/{RELEASE_NAMESPACE}/deployments/{RELEASE}"
    )
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return Chart(RELEASE, RELEASE_NAMESPACE, pod["serviceAccountName"], container["args"])


def crd_established(plane: ControlPlane) -> bool:
    crd = plane.api.find(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD}")
    conditions = (crd or {}).get("status", {}).get("conditions", [])
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def token_kubeconfig(plane: ControlPlane, path: Path, token: str, namespace: str) -> Path:
    """A kubeconfig that logs in with ``token`` only: what a pod's client would do."""
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dome-test",
                      "cluster": {"server": plane.url,
                                  "certificate-authority": str(plane.certs.ca)}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "dome-test", "user": "sa",
                                                "namespace": namespace}}],
        "current-context": "sa",
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class OperatorProcess:
    plane: ControlPlane
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                dying_with_parent(self.argv), stdout=log, stderr=subprocess.STDOUT, env=self.env
            )

    def stop(self, kill: bool = False) -> None:
        if self.popen is not None:
            if kill:
                self.popen.kill()
                self.popen.wait(timeout=10)
            else:
                stop_process(self.popen, grace=15)

    def check_alive(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            code = None if self.popen is None else self.popen.returncode
            raise AssertionError(f"dome-operator exited {code}:\n{self.log()}")

    def log(self, last: int = 8000) -> str:
        return self.log_path.read_text(errors="replace")[-last:]


def operator_argv(chart: Chart, health_port: int) -> list[str]:
    """The chart's container arguments, with the two ports a shared host cannot share."""
    argv = [DOME_OPERATOR]
    for arg in chart.operator_args:
        if arg.startswith("--liveness="):
            arg = f"--liveness=http://127.0.0.1:{health_port}/healthz"
        elif arg.startswith("--metrics-port="):
            arg = "--metrics-port=-1"
        argv.append(arg)
    return argv


@contextmanager
def running_operator(
    plane: ControlPlane, chart: Chart, root: Path, extra_env: dict[str, str]
) -> Iterator[OperatorProcess]:
    token = plane.token(chart.namespace, chart.service_account)
    kubeconfig = token_kubeconfig(plane, root / "operator.kubeconfig", token, chart.namespace)
    health_port = free_port()
    env = {"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin", "HOME": str(root),
           "POD_NAMESPACE": chart.namespace, **extra_env}  # fmt: skip
    process = OperatorProcess(plane, operator_argv(chart, health_port), env, root / "operator.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()
