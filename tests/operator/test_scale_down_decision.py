"""When the operator may lower the engine StatefulSet of a scale-down: a pure decision."""

from __future__ import annotations

import pytest

from dome.v1 import discovery_pb2 as pb
from dome_operator.placement import Unavailable
from dome_operator.scale_down import evacuation
from dome_operator.status import Children, EngineSet, exchange_status


def _symbol(
    name: str, primary: str, followers: list[str], in_sync: list[str]
) -> pb.SymbolPlacement:
    return pb.SymbolPlacement(symbol=name, primary=primary, followers=followers, in_sync=in_sync)


#: Engine ids are the pods' names (``commands.engine_args``).
E0, E1, E2 = "demo-engine-0", "demo-engine-1", "demo-engine-2"

# (what placement holds, done?) for 3 -> 2 engines at R=2.
CASES = [
    ([_symbol("A", E0, [E1], [E0, E1])], True),
    ([_symbol("A", E2, [E0], [E0, E2])], False),  # a leaving primary
    ([_symbol("A", E0, [E2], [E0, E2])], False),  # a leaving in-sync follower
    ([_symbol("A", E0, [E1, E2], [E0, E2])], False),  # the replacement still catching up
    ([_symbol("A", E0, [E1], [E0])], False),  # off the leaving engine, not in sync yet
    ([_symbol("A", "", [E0, E1], [E0, E1])], False),  # electing
]


@pytest.mark.parametrize(("symbols", "done"), CASES)
def test_the_pods_go_only_once_nothing_is_held_and_every_symbol_is_in_sync(
    symbols: list[pb.SymbolPlacement], done: bool
) -> None:
    reading = pb.Placement(replication_factor=2, symbols=symbols)
    progress = evacuation(reading, staying=2, present=3, pods="demo-engine")
    assert progress.leaving == (E2,)
    assert progress.done is done


def test_an_unreadable_placement_holds_the_pods() -> None:
    progress = evacuation(Unavailable("no answer"), staying=2, present=3, pods="demo-engine")
    assert not progress.done
    assert "no answer" in progress.message


def test_the_status_says_which_engines_are_evacuated_and_what_they_hold() -> None:
    engines = EngineSet(3, 3, 3, 3, 1, 1)
    reading = pb.Placement(replication_factor=2, symbols=[_symbol("A", E2, [E0], [E0, E2])])
    status = exchange_status(
        {"metadata": {"name": "demo"}, "spec": {"engines": 2}, "status": {}},
        Children(engines, True),
        degraded=None,
        placement=reading,
        endpoint=None,
        selector=None,
        generation=2,
        now="2026-01-01T00:00:00Z",
    )
    (progressing,) = (c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["status"] == "True"
    assert progressing["reason"] == "EvacuatingEngines"
    assert "demo-engine-2 still holds A" in progressing["message"]


def test_the_leaving_engines_are_the_exchanges_pods() -> None:
    """Engine ids are pod names: ``demo-engine-2`` leaves. Comparing against a literal
    ``engine-2`` found nothing held, so the pods went at once (tests/kube found it)."""
    reading = pb.Placement(replication_factor=2, symbols=[_symbol("A", E0, [E2], [E0, E2])])
    progress = evacuation(reading, staying=2, present=3, pods="demo-engine")
    assert progress.holding == {E2: ("A",)}
    assert not progress.done
