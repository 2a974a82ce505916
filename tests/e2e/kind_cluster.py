"""A throwaway kind cluster running DOME, driven through the real command-line tools.

Everything goes through docker, kind, helm and kubectl exactly as a person would type it,
so a failure here is one a user would meet. The cluster gets a kubeconfig of its own: the
caller's current context is never read or changed, and a test cannot touch any cluster
but the one it created. Waits are `kubectl wait` with a timeout, or a bounded poll of a
condition; none is a fixed sleep.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from processes import stop_process

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "images" / "Dockerfile"
CHART = REPO / "charts" / "dome"
EXAMPLES = REPO / "examples" / "k8s"
TOOLS_BIN = REPO / ".tools" / "bin"

NAMESPACE = "dome-system"
RELEASE = "dome"
EXCHANGE = "demo"
IMAGE_REPOSITORY = "dome"
IMAGE_TAG = "e2e"
ENGINE_PORT = 7100

#: Generous for a 2-core machine: the first build downloads the base image and wheels.
BUILD_TIMEOUT = 900.0
CLUSTER_TIMEOUT = 300.0
READY_TIMEOUT = 600.0


class CommandFailed(RuntimeError):
    """A tool exited non-zero; the message carries its command line and output."""


def tool(name: str) -> str | None:
    """``name`` on PATH, or in .tools/bin where `make tools` puts helm and kubectl."""
    return shutil.which(name) or shutil.which(name, path=str(TOOLS_BIN))


def missing_prerequisites() -> list[str]:
    """Why the kind tests cannot run on this machine; empty when they can."""
    reasons = []
    docker = tool("docker")
    if docker is None:
        reasons.append("docker is not on PATH")
    else:
        info = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if info.returncode != 0:
            detail = (info.stderr.strip().splitlines() or ["no output"])[-1]
            reasons.append(f"`docker info` failed, no Docker daemon reachable ({detail})")
    if tool("kind") is None:
        reasons.append("kind is not on PATH")
    for name in ("helm", "kubectl"):
        if tool(name) is None:
            reasons.append(f"{name} is not on PATH or in .tools/bin (`make tools`)")
    return reasons


def accounts() -> dict[str, str]:
    """Account -> bearer token: the example's tokens file (the Secret holds their hashes)."""
    tokens: dict[str, str] = json.loads((EXAMPLES / "tokens.json").read_text())
    return tokens


def example_exchange(tag: str) -> dict[str, Any]:
    """The example Exchange, running the image this session built and loaded."""
    exchange: dict[str, Any] = yaml.safe_load((EXAMPLES / "exchange.yaml").read_text())
    # Never: the image exists only because `kind load` put it on the node.
    exchange["spec"]["image"] = {
        "repository": IMAGE_REPOSITORY,
        "tag": tag,
        "pullPolicy": "Never",
    }
    return exchange


@dataclass
class KindCluster:
    """One kind cluster and the commands the tests run against it."""

    name: str
    workdir: Path
    created: bool = False
    #: What `diagnostics()` found when setup failed (the cluster may be gone by report time).
    captured: str | None = None
    _tools: dict[str, str] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def _tool(self, name: str) -> str:
        if name not in self._tools:
            found = tool(name)
            if found is None:
                raise CommandFailed(f"{name} is not installed")
            self._tools[name] = found
        return self._tools[name]

    def run(self, name: str, *args: str, timeout: float = 120.0, stdin: str | None = None) -> str:
        """Run a tool against this cluster; its stdout, or ``CommandFailed``."""
        command = [self._tool(name), *args]
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        try:
            result = subprocess.run(
                command,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=REPO,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CommandFailed(f"{' '.join(command)}: no result after {timeout:.0f}s") from exc
        if result.returncode != 0:
            raise CommandFailed(
                f"{' '.join(command)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result.stdout

    def kubectl(self, *args: str, timeout: float = 120.0, stdin: str | None = None) -> str:
        return self.run("kubectl", "--namespace", NAMESPACE, *args, timeout=timeout, stdin=stdin)

    # -- the cluster's life ---------------------------------------------------------

    def create(self) -> None:
        self.run(
            "kind", "create", "cluster", "--name", self.name,
            "--kubeconfig", str(self.kubeconfig), "--wait", f"{CLUSTER_TIMEOUT:.0f}s",
            timeout=CLUSTER_TIMEOUT + 60,
        )  # fmt: skip
        self.created = True

    def delete(self) -> None:
        if self.created:
            self.run(
                "kind", "delete", "cluster", "--name", self.name,
                "--kubeconfig", str(self.kubeconfig), timeout=CLUSTER_TIMEOUT,
            )  # fmt: skip
            self.created = False

    def build_image(self, tag: str, *, revision: str = "e2e") -> str:
        """Build the image from the repository; a new ``revision`` label gives a new image
        id even when every layer is cached, which is what rolling to a new tag needs."""
        image = f"{IMAGE_REPOSITORY}:{tag}"
        self.run(
            "docker", "build", "--file", str(DOCKERFILE), "--tag", image,
            "--build-arg", f"REVISION={revision}", str(REPO),
            timeout=BUILD_TIMEOUT,
        )  # fmt: skip
        self.run("kind", "load", "docker-image", image, "--name", self.name, timeout=300)
        return image

    def install_chart(self, tag: str) -> None:
        self.run(
            "helm", "install", RELEASE, str(CHART),
            "--namespace", NAMESPACE, "--create-namespace", "--wait", "--timeout", "5m",
            "--set", f"image.repository={IMAGE_REPOSITORY}",
            "--set", f"image.tag={tag}",
            "--set", "image.pullPolicy=Never",
            timeout=420,
        )  # fmt: skip

    def apply_example(self, tag: str) -> None:
        self.kubectl("apply", "--filename", str(EXAMPLES / "accounts-secret.yaml"))
        self.kubectl("apply", "--filename", "-", stdin=yaml.safe_dump(example_exchange(tag)))

    # -- waiting --------------------------------------------------------------------

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """The Exchange is Ready for its current generation (not a Ready left over from
        before the last change)."""
        generation = self.kubectl(
            "get", f"exchange/{EXCHANGE}", "--output", "jsonpath={.metadata.generation}"
        )
        self.kubectl(
            "wait", f"exchange/{EXCHANGE}",
            f"--for=jsonpath={{.status.observedGeneration}}={generation}",
            f"--timeout={timeout:.0f}s", timeout=timeout + 30,
        )  # fmt: skip
        self.kubectl(
            "wait", f"exchange/{EXCHANGE}", "--for=condition=Ready",
            f"--timeout={timeout:.0f}s", timeout=timeout + 30,
        )  # fmt: skip

    def wait_jsonpath(self, resource: str, path: str, value: str, timeout: float) -> None:
        self.kubectl(
            "wait", resource, f"--for=jsonpath={{{path}}}={value}",
            f"--timeout={timeout:.0f}s", timeout=timeout + 30,
        )  # fmt: skip

    def names(self, kinds: str, selector: str) -> list[str]:
        out = self.kubectl("get", kinds, "--selector", selector, "--output", "name")
        return out.split()

    @contextmanager
    def port_forward(self, target: str, port: int, timeout: float = 60.0) -> Iterator[str]:
        """``kubectl port-forward`` to ``target`` (svc/NAME or pod/NAME) on a free local
        port; yields ``127.0.0.1:PORT`` once kubectl says it forwards."""
        command = [
            self._tool("kubectl"), "--namespace", NAMESPACE, "port-forward", target,
            f":{port}", "--address", "127.0.0.1",
        ]  # fmt: skip
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        try:
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                try:
                    line = lines.get(timeout=max(remaining, 0.001))
                except queue.Empty:
                    message = f"{' '.join(command)}: not forwarding after {timeout}s"
                    raise CommandFailed(message) from None
                if line is None:
                    stderr = process.stderr.read() if process.stderr else ""
                    raise CommandFailed(f"{' '.join(command)} ended: {stderr}")
                found = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) ->", line)
                if found:
                    break
            yield f"127.0.0.1:{found.group(1)}"
        finally:
            stop_process(process, signal.SIGTERM, 10)

    # -- when something failed ------------------------------------------------------

    def diagnostics(self) -> str:
        """Events, the Exchange, the pods and their logs: what one needs to see why."""
        if not self.created:
            return f"kind cluster {self.name} does not exist (never created, or deleted)"
        sections = [
            ("events, every namespace", ["get", "events", "--all-namespaces",
                                         "--sort-by=.lastTimestamp"]),
            ("exchanges", ["get", "exchanges", "--output", "yaml"]),
            ("describe exchange", ["describe", "exchanges"]),
            ("objects", ["get", "all,pvc,configmaps,leases", "--output", "wide"]),
            ("describe pods", ["describe", "pods"]),
        ]  # fmt: skip
        out = [self._section(title, args) for title, args in sections]
        try:
            pods = self.kubectl("get", "pods", "--output", "name").split()
        except CommandFailed as exc:
            pods = []
            out.append(f"== pods: {exc}")
        for pod in pods:
            logs = ["logs", pod, "--all-containers"]
            out.append(self._section(f"logs {pod}", [*logs, "--tail=300", "--timestamps"]))
            out.append(self._section(f"previous logs {pod}", [*logs, "--previous", "--tail=100"]))
        return "\n".join(out)

    def _section(self, title: str, args: list[str]) -> str:
        try:
            body = self.kubectl(*args, timeout=60)
        except CommandFailed as exc:
            body = str(exc)
        return f"== {title}\n{body}"


def wait_until(what: str, condition: Callable[[], bool], timeout: float) -> None:
    """Poll ``condition`` until it holds; ``TimeoutError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    interval = 0.2
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f}s")
        time.sleep(interval)
        interval = min(interval * 2, 5.0)
