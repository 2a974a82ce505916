"""The command lines the pods run are ones DOME's own parsers accept.

Only flags that exist today are parsed for real. ``--advertise``, ``--discovery`` and
``--tls-dir`` (engine) and all of ``dome discovery`` arrive with the replication issue;
the tripwire below fails once they exist, so this test then starts checking them.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from render_cases import CASES, RenderCase

from dome.cli import build_parser
from dome.engine import add_engine_arguments
from dome_operator import commands, render

POD_NAME = "demo-engine-2"


def _engine_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dome engine")
    add_engine_arguments(parser)
    return parser


def _container(case: RenderCase, kind: str, component: str | None = None) -> dict[str, Any]:
    """The one container of the case's ``kind`` workload: the engines' StatefulSet or
    discovery's Deployment unless ``component`` names another (the FIX gateway's)."""
    wanted = component or {"StatefulSet": "engine", "Deployment": "discovery"}[kind]
    objects = render(case.exchange(), available_apis=case.available_apis)
    (workload,) = [
        o
        for o in objects
        if o["kind"] == kind and o["metadata"]["labels"]["app.kubernetes.io/component"] == wanted
    ]
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def _without(args: list[str], flags: set[str]) -> list[str]:
    """``args`` minus each flag in ``flags`` and the value after it."""
    kept: list[str] = []
    skip_value = False
    for arg in args:
        if skip_value:
            skip_value = False
        elif arg in flags:
            skip_value = True
        else:
            kept.append(arg)
    return kept


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_engine_command_line_parses_with_the_engine_parser(case: RenderCase) -> None:
    container = _container(case, "StatefulSet")
    assert container["command"] == ["dome"]
    assert container["args"][0] == "engine"
    # The kubelet expands $(POD_NAME) from the env the container declares.
    env = {item["name"]: item for item in container["env"]}
    assert env[commands.POD_NAME_ENV]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    argv = [arg.replace("$(POD_NAME)", POD_NAME) for arg in container["args"][1:]]
    args = _engine_parser().parse_args(argv)
    assert args.engine_id == POD_NAME
    assert args.port == commands.ENGINE_PORT
    assert args.peer_port == commands.PEER_PORT
    assert args.metrics_port == commands.METRICS_PORT
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    for path in (args.data_dir, args.instruments.parent, args.accounts.parent):
        assert str(path) in mounts


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_ports_on_the_command_line_are_the_ports_declared_and_probed(case: RenderCase) -> None:
    for kind, grpc_port, peer in (
        ("StatefulSet", commands.ENGINE_PORT, {"peer": commands.PEER_PORT}),
        ("Deployment", commands.DISCOVERY_PORT, {}),
    ):
        container = _container(case, kind)
        args = container["args"]
        assert args[args.index("--port") + 1] == str(grpc_port)
        assert args[args.index("--metrics-port") + 1] == str(commands.METRICS_PORT)
        assert args[args.index("--health-port") + 1] == str(commands.HEALTH_PORT)
        if peer:
            assert args[args.index("--peer-port") + 1] == str(commands.PEER_PORT)
        else:
            assert "--peer-port" not in args
        declared = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert declared == {
            "grpc": grpc_port,
            **peer,
            "metrics": commands.METRICS_PORT,
            "health": commands.HEALTH_PORT,
        }
        # The plaintext health port, not the (maybe mutual-TLS) gRPC port: kubelet probes
        # speak plaintext (test_render_probes.py).
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == commands.HEALTH_PORT


def test_tls_dir_is_passed_exactly_when_the_secret_is_mounted() -> None:
    for case in CASES:
        for kind in ("StatefulSet", "Deployment"):
            container = _container(case, kind)
            mounted = any(m["mountPath"] == commands.TLS_DIR for m in container["volumeMounts"])
            assert ("--tls-dir" in container["args"]) is mounted
    assert any("--tls-dir" in _container(case, "StatefulSet")["args"] for case in CASES)


def test_discovery_command_line_parses_with_the_dome_cli() -> None:
    subcommands = next(
        action.choices
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    assert "discovery" in subcommands
    container = _container(CASES[0], "Deployment")
    build_parser().parse_args(container["args"])


def test_advertised_address_is_the_pod_dns_name_under_the_headless_service() -> None:
    objects = render(CASES[0].exchange())
    (headless,) = [
        o for o in objects if o["kind"] == "Service" and o["spec"].get("clusterIP") == "None"
    ]
    (statefulset,) = [o for o in objects if o["kind"] == "StatefulSet"]
    assert statefulset["spec"]["serviceName"] == headless["metadata"]["name"]
    args = _container(CASES[0], "StatefulSet")["args"]
    advertised = args[args.index("--advertise") + 1]
    assert advertised == f"$(POD_NAME).{headless['metadata']['name']}.trading.svc:7100"
    discovery = args[args.index("--discovery") + 1]
    assert discovery == "demo-discovery.trading.svc:7000"


FIX_CASES = [case for case in CASES if case.exchange()["spec"].get("fix", {}).get("enabled")]


def test_there_is_a_fix_gateway_case() -> None:
    assert FIX_CASES


@pytest.mark.parametrize("case", FIX_CASES, ids=lambda case: case.name)
def test_fix_command_line_parses_with_the_dome_cli(case: RenderCase) -> None:
    container = _container(case, "StatefulSet", "fix")
    assert container["command"] == ["dome"]
    args = build_parser().parse_args(container["args"])
    assert args.command == "fix"
    port = case.exchange()["spec"]["fix"].get("port", 9878)
    assert args.port == port
    assert args.metrics_port == commands.METRICS_PORT
    assert args.discovery == f"{case.exchange()['metadata']['name']}-discovery.trading.svc:7000"
    declared = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert declared == {"fix": port, "metrics": commands.METRICS_PORT}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "metrics"
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert str(args.data_dir) in mounts
    assert str(args.accounts.parent) in mounts
    # Each TLS directory is passed exactly when its Secret is mounted.
    for flag, directory in (
        ("--tls-dir", commands.TLS_DIR),
        ("--fix-tls-dir", commands.FIX_TLS_DIR),
    ):
        assert (flag in container["args"]) is (directory in mounts), flag
