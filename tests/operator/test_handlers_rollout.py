"""A new engine template rolls one pod at a time, the engines leading fewest first, read
from a real discovery; an operator restarted midway carries on and deletes nothing twice.

The emulator plays the StatefulSet controller under OnDelete (``play_controllers``): a
deleted pod comes back from the template of now, a running one keeps its revision.
"""

from __future__ import annotations

from typing import Any

import pytest
from discovery_runtime import running_discovery
from handler_scenarios import (
    NAME,
    REVISION,
    STATEFUL_SETS,
    create,
    engine_pods,
    exchange,
    play_controllers,
    quick,
    the_exchange,
)
from kube_emulator import ClusterEmulator
from operator_runtime import (
    NAMESPACE,
    api,
    cluster,
    event_reasons,
    eventually,
    exchange_url,
    has_condition,
    operator,
)

from dome_operator.discovery_client import ADDRESS_ENV
from dome_operator.metrics import METRICS

__all__ = ["cluster", "quick"]  # the fixtures, imported for pytest

ENGINES = [f"{NAME}-engine-{i}" for i in range(3)]


def _rolled() -> float:
    return METRICS.registry.get_sample_value("dome_operator_engine_pods_rolled_total") or 0.0


def _pod_deletions(cluster: ClusterEmulator, since: int) -> list[str]:
    return [
        request.url.path.rsplit("/", 1)[-1]
        for request in cluster.requests[since:]
        if request.method == "DELETE" and "/pods/" in request.url.path
    ]


async def test_a_new_template_rolls_one_engine_at_a_time_fewest_led_first(
    cluster: ClusterEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dome_operator.handlers.STATUS_REFRESH_S", 0.2)
    # Two symbols on three engines (factor 3): one engine leads nothing.
    async with running_discovery(["BTC-USD", "ETH-USD"], ENGINES) as discovery:
        monkeypatch.setenv(ADDRESS_ENV, discovery.address)
        async with operator():
            await create(cluster, exchange())
            await eventually(
                lambda: has_condition(the_exchange(cluster), "Progressing", "True"), "a status"
            )
            await play_controllers(cluster, ready=3, revision="r1")
            placed: Any = await eventually(
                lambda: (
                    has_condition(the_exchange(cluster), "Ready", "True")
                    and "led" in (the_exchange(cluster) or {})["status"].get("placement", {})
                    and (the_exchange(cluster) or {})["status"]["placement"]
                ),
                "Ready with a placement summary",
            )
            led = placed["led"]
            expected = sorted(ENGINES, key=lambda e: (led[e], -int(e.rsplit("-", 1)[1])))
            assert led[expected[0]] == 0, led
            generation = (cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine") or {})[
                "metadata"
            ]["generation"]
            mark, rolled = len(cluster.requests), _rolled()
            # A new pod annotation: a new pod template, so a new revision.
            patch = {"spec": {"pods": {"annotations": {"example.com/build": "2"}}}}
            await api(cluster, "PATCH", exchange_url(NAME), patch)
            await eventually(
                lambda: (
                    (cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine") or {})["metadata"][
                        "generation"
                    ]
                    > generation
                ),
                "the new template applied",
            )
            await play_controllers(cluster, ready=3, revision="r2")
            first = await _next_deletion(cluster, mark, 1)
        # The operator stops and starts again between two steps of the rollout.
        async with operator():
            await eventually(
                lambda: has_condition(the_exchange(cluster), "Progressing", "True", "RollingOut"),
                "Progressing while the engines roll",
            )
            await play_controllers(cluster, ready=3, revision="r2")  # the first comes back
            second = await _next_deletion(cluster, mark, 2)
            await play_controllers(cluster, ready=3, revision="r2")
            third = await _next_deletion(cluster, mark, 3)
            await play_controllers(cluster, ready=3, revision="r2")
            await eventually(
                lambda: has_condition(the_exchange(cluster), "Progressing", "False", "Stable"),
                "Stable once every engine runs the new template",
            )
            assert [first, second, third] == expected
            assert _pod_deletions(cluster, mark) == expected  # each once, no more
            pods = engine_pods(cluster)
            assert sorted(pods) == [0, 1, 2]
            assert {pod["metadata"]["labels"][REVISION] for pod in pods.values()} == {"r2"}
            assert _rolled() == rolled + 3
            assert event_reasons(cluster, NAME).count("EngineRolled") == 3


async def _next_deletion(cluster: ClusterEmulator, since: int, count: int) -> str:
    """The ``count``-th pod deletion since request ``since``; no other pod went with it."""
    deleted: Any = await eventually(
        lambda: len(_pod_deletions(cluster, since)) >= count and _pod_deletions(cluster, since),
        f"deletion {count} of the rollout",
    )
    assert len(deleted) == count, deleted  # one at a time: the others wait for it to return
    assert len(engine_pods(cluster)) == 2, "exactly one engine pod gone"
    return str(deleted[-1])
