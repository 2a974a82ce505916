"""Network namespaces for partition tests: each engine behind its own cable.

Every engine runs in a namespace of its own, linked by a veth pair to a bridge in the
test's namespace, where discovery and the test itself live. Pulling the cable (the
bridge side of one veth down) isolates that engine from everyone at once; putting it
back heals the partition. Needs root and iproute2; ``unavailable()`` says why not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


def _subnet() -> str:
    """A /24 of this test process's own: pytest-xdist's workers (``gw0``, ``gw1``, ...)
    may build their networks at once, and two bridges on one subnet would steal each
    other's routes."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    return f"10.231.{7 + int(worker) if worker.isdigit() else 7}"


SUBNET = _subnet()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def unavailable() -> str | None:
    """Why namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    probe = f"dome-probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except subprocess.CalledProcessError as exc:
        return f"cannot create a network namespace: {exc.stderr.decode().strip()}"
    _ip("netns", "del", probe)
    return None


@dataclass(frozen=True)
class Net:
    """The bridge address (discovery's) and one namespace per engine."""

    tag: str
    engines: int

    @property
    def bridge_ip(self) -> str:
        return f"{SUBNET}.1"

    def ns(self, i: int) -> str:
        return f"{self.tag}-e{i}"

    def engine_ip(self, i: int) -> str:
        return f"{SUBNET}.{10 + i}"

    def prefix(self, i: int) -> list[str]:
        """Command prefix that runs a program inside engine ``i``'s namespace."""
        return ["ip", "netns", "exec", self.ns(i)]

    def _host_end(self, i: int) -> str:
        return f"{self.tag[-6:]}h{i}"

    def cut(self, i: int) -> None:
        """Isolate engine ``i`` from everyone."""
        _ip("link", "set", self._host_end(i), "down")

    def heal(self, i: int) -> None:
        """Reconnect engine ``i``."""
        _ip("link", "set", self._host_end(i), "up")


@contextmanager
def engine_network(engines: int) -> Iterator[Net]:
    """Create the bridge and namespaces; remove everything afterwards."""
    net = Net(f"dm{os.getpid() % 100000}", engines)
    bridge = f"{net.tag}br"
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{net.bridge_ip}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for i in range(engines):
            ns, host_end, ns_end = net.ns(i), net._host_end(i), f"{net.tag[-6:]}n{i}"
            _ip("netns", "add", ns)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            _ip("link", "set", ns_end, "netns", ns)
            _ip("link", "set", host_end, "master", bridge)
            _ip("link", "set", host_end, "up")
            _ip("-n", ns, "addr", "add", f"{net.engine_ip(i)}/24", "dev", ns_end)
            _ip("-n", ns, "link", "set", ns_end, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield net
    finally:
        for i in range(engines):
            subprocess.run(["ip", "netns", "del", net.ns(i)], capture_output=True)
            subprocess.run(["ip", "link", "del", net._host_end(i)], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
