"""Discovery renders as replicas electing a leader (docs/discovery-ha.md).

``spec.discovery.replicas`` pods (default 2, at least 1), rolled one new pod at a time
before an old one goes, a budget that lets a drain take one, preferred anti-affinity,
the pod's name and IP from the downward API, and a command line that ``dome discovery``
accepts as one replica of several, with the engine grant that outlasts a handover.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from operator_helpers import EXAMPLES, GOOD_EXCHANGES, as_admitted, load_yaml

from dome.cli_commands.discovery import add_discovery_arguments, settings_from_args
from dome_operator import commands, render
from dome_operator.exchange import InvalidExchange, read_exchange


def _example(**discovery: Any) -> dict[str, Any]:
    exchange = as_admitted(load_yaml(EXAMPLES / "exchange.yaml"))
    if discovery:
        exchange["spec"]["discovery"] = discovery
    return exchange


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def test_two_replicas_rolled_one_new_pod_before_an_old_one_goes() -> None:
    objects = render(_example())
    deployment = _one(objects, "Deployment", "demo-discovery")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    budget = _one(objects, "PodDisruptionBudget", "demo-discovery")
    assert budget["spec"]["maxUnavailable"] == 1
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert budget["spec"]["selector"]["matchLabels"] == selector
    pod = deployment["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == selector
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


@pytest.mark.parametrize("replicas", [1, 3])
def test_spec_discovery_replicas_sets_the_count(replicas: int) -> None:
    deployment = _one(render(_example(replicas=replicas)), "Deployment", "demo-discovery")
    assert deployment["spec"]["replicas"] == replicas


def test_fewer_than_one_replica_is_refused() -> None:
    with pytest.raises(InvalidExchange, match=r"spec.discovery.replicas is 0"):
        render(_example(replicas=0))


def test_spec_pods_anti_affinity_replaces_the_default_one() -> None:
    exchange = _example()
    own = {"requiredDuringSchedulingIgnoredDuringExecution": []}
    exchange["spec"]["pods"] = {"affinity": {"podAntiAffinity": own}}
    deployment = _one(render(exchange), "Deployment", "demo-discovery")
    assert deployment["spec"]["template"]["spec"]["affinity"] == {"podAntiAffinity": own}


def _expanded(container: dict[str, Any], pod: str, ip: str) -> list[str]:
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {commands.POD_NAME_ENV: "metadata.name", commands.POD_IP_ENV: "status.podIP"}
    values = {commands.POD_NAME_ENV: pod, commands.POD_IP_ENV: ip}
    args: list[str] = []
    for arg in container["args"]:
        for name, value in values.items():
            arg = arg.replace(f"$({name})", value)
        args.append(arg)
    return args


@pytest.mark.parametrize("source", ["example", "tls"])
def test_the_command_line_is_one_replica_of_several(source: str, tmp_path: Any) -> None:
    exchange = (
        _example()
        if source == "example"
        else as_admitted(load_yaml(GOOD_EXCHANGES / "tls-storage-resources.yaml"))
    )
    name = exchange["metadata"]["name"]
    deployment = _one(render(exchange), "Deployment", f"{name}-discovery")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = _expanded(container, f"{name}-discovery-7d9f-x2", "10.1.2.3")
    assert args[args.index("--leader-lease") + 1] == f"{name}-discovery-leader"
    # What the kubelet mounts, where the parser checks for files.
    secret = tmp_path / "peer"
    secret.write_text("a-peer-secret-long-enough-for-the-check")
    args[args.index("--peer-secret-file") + 1] = str(secret)
    if "--tls-dir" in args:
        (tmp_path / "tls.crt").write_text("")
        args[args.index("--tls-dir") + 1] = str(tmp_path)
        server_name = args[args.index("--tls-server-name") + 1]
        assert server_name == f"{name}-discovery.{exchange['metadata']['namespace']}.svc"
    parser = argparse.ArgumentParser()
    add_discovery_arguments(parser)
    assert args[0] == "discovery"
    settings = settings_from_args(parser.parse_args(args[1:]), parser)
    assert settings.identity == f"{name}-discovery-7d9f-x2"
    assert settings.advertise_host == "10.1.2.3"
    assert settings.leader_lease == commands.discovery_leader_lease_name(read_exchange(exchange))
    assert settings.core.timings.lease_ttl == 4.5, "the grant outlasts a leader handover"
