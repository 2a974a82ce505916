"""The operator's status summary of placement, read from a real discovery: kept when
discovery goes, and following discovery's elections, which change no Kubernetes object."""

from __future__ import annotations

from typing import Any

import pytest
from discovery_runtime import running_discovery
from handler_scenarios import NAME, create, exchange, play_controllers, quick, the_exchange
from kube_emulator import ClusterEmulator
from operator_runtime import cluster, eventually, has_condition, operator

from dome_operator.discovery_client import ADDRESS_ENV

__all__ = ["cluster", "quick"]  # the fixtures, imported for pytest


async def test_the_status_summarises_placement_and_keeps_it_when_discovery_goes(
    cluster: ClusterEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    engines = [f"{NAME}-engine-{i}" for i in range(3)]
    async with running_discovery(["BTC-USD", "ETH-USD", "SOL-USD"], engines) as discovery:
        # What the discovery Service's DNS name is in the cluster.
        monkeypatch.setenv(ADDRESS_ENV, discovery.address)
        async with operator():
            await create(cluster, exchange())
            await eventually(
                lambda: has_condition(the_exchange(cluster), "Progressing", "True"), "a status"
            )
            # Discovery's Deployment becomes available: the refresh asks it.
            await play_controllers(cluster, ready=3, revision="main-engine-1")
            placed = await eventually(
                lambda: (
                    "led" in _placement(cluster)
                    and has_condition(the_exchange(cluster), "Ready", "True")
                    and _placement(cluster)
                ),
                "a placement summary",
            )
            assert placed == {
                "symbols": 3,
                "epoch": placed["epoch"],
                "led": dict.fromkeys(engines, 1),
                "electing": [],
                "underReplicated": [],
            }
            assert has_condition(the_exchange(cluster), "Degraded", "False")

            # Discovery goes away; the next refresh keeps the summary and says why.
            discovery.stop.set()
            await play_controllers(cluster, ready=2, revision="main-engine-1")
            kept = await eventually(
                lambda: "unavailable" in _placement(cluster) and _placement(cluster),
                "the summary kept, marked unavailable",
            )
            assert kept == {
                **placed,
                "unavailable": f"discovery at {discovery.address} did not answer: UNAVAILABLE",
            }
            assert has_condition(the_exchange(cluster), "Degraded", "False")


async def test_the_placement_summary_follows_discovery_with_no_kubernetes_event(
    cluster: ClusterEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An election changes no Kubernetes object: the operator's own refresh must see it.
    monkeypatch.setattr("dome_operator.handlers.STATUS_REFRESH_S", 0.2)
    engines = [f"{NAME}-engine-{i}" for i in range(3)]
    async with running_discovery(["BTC-USD", "ETH-USD", "SOL-USD"], engines) as discovery:
        monkeypatch.setenv(ADDRESS_ENV, discovery.address)
        async with operator():
            await create(cluster, exchange())
            await eventually(
                lambda: has_condition(the_exchange(cluster), "Progressing", "True"), "a status"
            )
            await play_controllers(cluster, ready=3, revision="main-engine-1")
            placed = await eventually(
                lambda: "led" in _placement(cluster) and _placement(cluster), "a placement"
            )
            assert placed["led"] == dict.fromkeys(engines, 1)
            # The engine dies inside discovery only; no pod, StatefulSet or Exchange moves.
            await discovery.stop_engine(engines[0])
            # Waited for is the end of the election: the two others lead every symbol.
            # Not just "engine-0 gone": discovery, its agents and the operator share this
            # process's loop, and a stall of it past the 1.5 s lease under CI load lapses
            # every agent at once, a summary with no engine at all until they re-register.
            moved = await eventually(
                lambda: (
                    sorted(_placement(cluster).get("led", {})) == engines[1:]
                    and sum(_placement(cluster)["led"].values()) == 3
                    and _placement(cluster)
                ),
                lambda: f"the survivors leading every symbol; the summary: {_placement(cluster)}",
            )
            assert moved["epoch"] > placed["epoch"]


def _placement(cluster: ClusterEmulator) -> dict[str, Any]:
    placement: dict[str, Any] = (the_exchange(cluster) or {}).get("status", {}).get("placement", {})
    return placement
