"""Every probe the operator renders can be answered, TLS or not.

A kubelet gRPC probe is plaintext without a client certificate. So each probe must target
the container's declared ``health`` port, which the process is told to serve with
``--health-port`` (plaintext always, ``dome.health``), never the service port, which
``--tls-dir`` turns to mutual TLS. Startup and liveness ask the overall service (""),
readiness the ``readiness`` service.
"""

from __future__ import annotations

from typing import Any

import pytest
from render_cases import CASES, RenderCase

from dome.health import READINESS
from dome_operator import commands


def _containers(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (o["metadata"]["name"], container)
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet")
        and o["metadata"]["name"].endswith(("-discovery", "-engine"))
        for container in o["spec"]["template"]["spec"]["containers"]
    ]


def _flag(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_probes_ask_the_plaintext_health_port(case: RenderCase) -> None:
    containers = _containers(case.render())
    assert {name.rsplit("-", 1)[1] for name, _ in containers} == {"discovery", "engine"}
    for name, container in containers:
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        args = container["args"]
        assert _flag(args, "--health-port") == str(ports["health"]), name
        assert ports["health"] != ports["grpc"], name
        for kind, service in (
            ("startupProbe", ""),
            ("livenessProbe", ""),
            ("readinessProbe", READINESS),
        ):
            grpc = container[kind]["grpc"]
            assert grpc["port"] == ports["health"], f"{name} {kind} probes {grpc['port']}"
            assert grpc.get("service", "") == service, f"{name} {kind}"


def test_the_operator_and_the_processes_name_readiness_alike() -> None:
    assert commands.READINESS_SERVICE == READINESS


def test_discovery_is_reachable_before_it_is_ready() -> None:
    # Its readiness waits for the engines to register through its Service.
    (service,) = [
        o
        for o in CASES[0].render()
        if o["kind"] == "Service" and o["metadata"]["name"].endswith("-discovery")
    ]
    assert service["spec"]["publishNotReadyAddresses"] is True
