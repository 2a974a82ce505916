"""What a test of one Exchange on the real control plane holds: the plane, the local
kubelet and the operator, and a wait that says, when it times out, what they show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from control_plane import ControlPlane
from kube_api import resource_path
from kube_chart import NAMESPACE, OperatorProcess
from local_kubelet import LocalKubelet
from service_proxy import service_proxy

#: This checkout's ``dome``, beside the interpreter running the tests.
DOME = str(Path(sys.executable).with_name("dome"))


def exchange_path(name: str) -> str:
    return resource_path("dome.dev/v1alpha1", "exchanges", NAMESPACE, name)


class Scene:
    """One Exchange (``name``) and the processes around it."""

    def __init__(
        self, plane: ControlPlane, kubelet: LocalKubelet, op: OperatorProcess, name: str
    ) -> None:
        self.plane, self.kubelet, self.operator, self.name = plane, kubelet, op, name

    def wait(self, condition: Any, what: str, within: float = 60.0) -> Any:
        """``condition``'s first true value; fails at once if a pod or the operator died."""

        def check() -> Any:
            self.kubelet.check()
            self.operator.check_alive()
            return condition()

        try:
            return self.plane.wait(check, what, within)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.diagnostics()}") from None

    def diagnostics(self) -> str:
        pods = "\n".join(
            f"== {r.name}: {' '.join(r.process.argv)}\n{r.process.log(3000)}"
            for r in self.kubelet.running.values()
        )
        found = self.plane.api.find(exchange_path(self.name)) or {}
        status = json.dumps(found.get("status"), indent=1)
        return f"Exchange status: {status}\noperator log:\n{self.operator.log()}\n{pods}"

    def exchange(self) -> dict[str, Any]:
        found: dict[str, Any] = self.plane.api.get(exchange_path(self.name))
        return found

    def discovery_cli(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """``dome ARGS --discovery=...`` through discovery's Service, as an operator of
        the exchange would run it (either discovery replica answers)."""
        with service_proxy(self.plane, self.kubelet, NAMESPACE, f"{self.name}-discovery",
                           "grpc") as at:  # fmt: skip
            return subprocess.run(
                [DOME, *args, f"--discovery={at}"], capture_output=True, text=True,
                timeout=timeout,
            )  # fmt: skip

    def check(self, wait: float = 60.0) -> None:
        """``dome check``: every symbol's replicas at one sequence with one state hash."""
        check = self.discovery_cli("check", f"--wait={wait:g}", "--json", timeout=2 * wait)
        assert check.returncode == 0, check.stdout + check.stderr
