"""The engines' PodDisruptionBudget follows the replication factor and the acks rule.

A node drain may take down at once only as many engines as every symbol can lose and
still take writes with an acknowledged order on two replicas (``acks: all``) or a
majority up (``acks: majority``); never 0, which would block every drain.
"""

from __future__ import annotations

from typing import Any

import pytest
from operator_helpers import EXAMPLES, as_admitted, load_yaml

from dome_operator import render


def _budget(engines: int, replication: dict[str, Any]) -> dict[str, Any]:
    exchange = as_admitted(load_yaml(EXAMPLES / "exchange.yaml"))
    exchange["spec"]["engines"] = engines
    exchange["spec"]["replication"] = replication
    (budget,) = [
        o
        for o in render(exchange)
        if o["kind"] == "PodDisruptionBudget" and o["metadata"]["name"].endswith("-engine")
    ]
    spec: dict[str, Any] = budget["spec"]
    return spec


@pytest.mark.parametrize(
    ("engines", "factor", "acks", "evictable"),
    [
        (3, 3, "all", 1),
        (5, 4, "all", 2),
        (5, 5, "all", 3),
        (7, 5, "majority", 2),
        (5, 3, "majority", 1),
        (5, 4, "majority", 1),
    ],
)
def test_max_unavailable_keeps_every_symbol_writable(
    engines: int, factor: int, acks: str, evictable: int
) -> None:
    spec = _budget(engines, {"factor": factor, "acks": acks})
    assert spec["maxUnavailable"] == evictable
    assert "minAvailable" not in spec


@pytest.mark.parametrize(
    ("factor", "acks"), [(1, "all"), (2, "all"), (1, "majority"), (2, "majority")]
)
def test_without_a_second_replica_to_keep_one_engine_at_a_time_still_drains(
    factor: int, acks: str
) -> None:
    assert _budget(3, {"factor": factor, "acks": acks})["maxUnavailable"] == 1


def test_the_default_factor_counts() -> None:
    # factor unset: min(3, engines) = 3 of 6 engines, acks all: one at a time.
    assert _budget(6, {"acks": "all"})["maxUnavailable"] == 1
    # a single engine holds factor 1: its drain is allowed.
    assert _budget(1, {"acks": "all"})["maxUnavailable"] == 1


def test_the_budget_selects_exactly_the_engines() -> None:
    spec = _budget(5, {"factor": 5, "acks": "all"})
    assert spec["selector"] == {
        "matchLabels": {
            "app.kubernetes.io/name": "dome",
            "app.kubernetes.io/instance": "demo",
            "app.kubernetes.io/component": "engine",
        }
    }
