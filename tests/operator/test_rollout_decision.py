"""Which engine pod a rollout replaces next, and when it waits: a pure decision."""

from __future__ import annotations

from typing import Any

import pytest

from dome.v1 import discovery_pb2 as pb
from dome_operator.discovery_client import TLS_UNSUPPORTED
from dome_operator.placement import Unavailable
from dome_operator.rollout import EnginePod, engine_pod, next_step

E0, E1, E2 = "demo-engine-0", "demo-engine-1", "demo-engine-2"
ENGINES = (E0, E1, E2)


def _set(*, generation: int = 2, observed: int = 2, replicas: int = 3) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": observed, "updateRevision": "new"},
    }


def _pods(*revisions: str, ready: bool = True) -> list[EnginePod]:
    return [EnginePod(ENGINES[n], f"uid-{n}", n, r, ready, False) for n, r in enumerate(revisions)]


def _placement(
    leads: dict[str, int], *, in_sync: int = 3, alive: tuple[str, ...] = ENGINES
) -> pb.Placement:
    symbols = []
    for engine, count in leads.items():
        for k in range(count):
            symbols.append(
                pb.SymbolPlacement(
                    symbol=f"{engine[-1]}{k}", primary=engine, in_sync=list(ENGINES[:in_sync])
                )
            )
    return pb.Placement(
        replication_factor=3,
        engines=[pb.EngineInfo(engine_id=e, alive=e in alive) for e in ENGINES],
        symbols=symbols,
    )


def test_the_engine_leading_fewest_goes_first_and_the_primaries_last() -> None:
    reading = _placement({E0: 0, E1: 2, E2: 1})
    step = next_step(_set(), _pods("old", "old", "old"), reading)
    assert (step.pod, step.uid, step.done) == (E0, "uid-0", False)
    step = next_step(_set(), _pods("new", "old", "old"), reading)
    assert step.pod == E2  # leads 1, before E1's 2
    step = next_step(_set(), _pods("new", "old", "new"), reading)
    assert step.pod == E1
    assert "2 of 3 engines updated" in step.reason


def test_ties_go_highest_ordinal_first() -> None:
    step = next_step(_set(), _pods("old", "old", "old"), _placement({E0: 1, E1: 1, E2: 1}))
    assert step.pod == E2


def test_done_when_no_pod_runs_an_old_template_even_with_pods_still_coming() -> None:
    # Creating pods (a new exchange, a scale-up) is the controller's work, not a rollout's.
    step = next_step(_set(replicas=5), _pods("new", "new", "new", ready=False), Unavailable("x"))
    assert step.done
    assert step.pod is None


WAITS = [
    ("the controller has not seen the template", _set(observed=1), _pods("old", "old", "old"),
     _placement({E0: 1}), "StatefulSet controller"),
    ("a pod is missing", _set(), _pods("new", "old"), _placement({E0: 1}), "engine pod 2"),
    ("a pod is not Ready", _set(),
     [*_pods("old", "old"), EnginePod(E2, "u", 2, "new", False, False)],
     _placement({E0: 1}), f"{E2} to become Ready"),
    ("two pods are down, one on the old template", _set(),
     [EnginePod(E0, "u", 0, "old", False, False), *_pods("old", "old")[1:2],
      EnginePod(E2, "u", 2, "new", False, False)],
     _placement({E0: 1}), f"{E0} to become Ready"),
    ("a pod is terminating", _set(),
     [*_pods("old", "old"), EnginePod(E2, "u", 2, "old", True, True)],
     _placement({E0: 1}), f"{E2} to stop"),
    ("placement is unreadable", _set(), _pods("old", "old", "old"), Unavailable("no answer"),
     "placement: no answer"),
    ("an engine is not alive", _set(), _pods("old", "old", "old"),
     _placement({E0: 1}, alive=(E0, E1)), f"list {E2} alive"),
    ("a symbol is short of its factor", _set(), _pods("new", "old", "old"),
     _placement({E0: 1}, in_sync=2), "in sync at 3"),
]  # fmt: skip


@pytest.mark.parametrize(("why", "stateful_set", "pods", "reading", "says"), WAITS)
def test_it_waits(
    why: str, stateful_set: dict[str, Any], pods: list[EnginePod], reading: Any, says: str
) -> None:
    step = next_step(stateful_set, pods, reading)
    assert step.pod is None, why
    assert not step.done, why
    assert says in step.reason, (why, step.reason)


def test_the_one_pod_down_on_an_old_template_is_replaced_at_once() -> None:
    # A template whose pod never became Ready (E2, revision "bad"), corrected since
    # ("new"): E2 serves nothing, so it goes first, without a placement read or a wait.
    pods = [*_pods("old", "old"), EnginePod(E2, "uid-2", 2, "bad", False, False)]
    step = next_step(_set(), pods, Unavailable("no answer"))
    assert (step.pod, step.uid) == (E2, "uid-2")
    assert "not Ready" in step.reason


def test_it_waits_for_an_election() -> None:
    reading = _placement({E0: 1})
    reading.symbols.append(pb.SymbolPlacement(symbol="Z", primary="", in_sync=list(ENGINES)))
    step = next_step(_set(), _pods("old", "old", "old"), reading)
    assert step.pod is None
    assert "Z to elect" in step.reason


def test_the_factor_is_at_most_the_engine_count() -> None:
    # Factor 3 on a 2-engine exchange: in sync on both is all there can be.
    reading = pb.Placement(
        replication_factor=3,
        engines=[pb.EngineInfo(engine_id=e, alive=True) for e in (E0, E1)],
        symbols=[pb.SymbolPlacement(symbol="A", primary=E0, in_sync=[E0, E1])],
    )
    step = next_step(_set(replicas=2), _pods("old", "old"), reading)
    assert step.pod == E1


def test_a_tls_exchange_rolls_by_readiness_highest_ordinal_first() -> None:
    step = next_step(_set(), _pods("old", "old", "new"), Unavailable(TLS_UNSUPPORTED))
    assert step.pod == E1
    assert "by readiness" in step.reason
    step = next_step(
        _set(), [*_pods("old", "old"), EnginePod(E2, "u", 2, "new", False, False)],
        Unavailable(TLS_UNSUPPORTED),
    )  # fmt: skip
    assert step.pod is None  # still waits for readiness


def test_a_pod_object_is_read_as_the_api_server_has_it() -> None:
    pod = engine_pod(
        {
            "metadata": {
                "name": "demo-engine-12",
                "uid": "u-12",
                "labels": {"controller-revision-hash": "demo-engine-7c9"},
                "deletionTimestamp": "2026-12-04T00:00:00Z",
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
    )
    assert pod == EnginePod("demo-engine-12", "u-12", 12, "demo-engine-7c9", True, True)
    assert not engine_pod({"metadata": {"name": "demo-engine-0"}, "status": {}}).ready
