"""From discovery's placement map to the Exchange's status: the summary and Degraded.

Pure: placement maps are built by hand as discovery's protobuf messages; the status they
give must pass the CRD's schema.
"""

from __future__ import annotations

import doctest
from typing import Any

from operator_helpers import EXAMPLES, as_admitted, load_yaml, schema_errors

from dome.v1 import discovery_pb2 as pb
from dome_operator import placement
from dome_operator import status as status_rules
from dome_operator.placement import Unavailable, placement_summary
from dome_operator.status import (
    ELECTING,
    UNDER_REPLICATED,
    Children,
    Degradation,
    EngineSet,
    condition,
    current_degradation,
    exchange_status,
)

ENGINES = ("demo-engine-0", "demo-engine-1", "demo-engine-2")


def _placement(*symbols: pb.SymbolPlacement, dead: tuple[str, ...] = ()) -> pb.Placement:
    return pb.Placement(
        version=7,
        replication_factor=3,
        acks="all",
        engines=[pb.EngineInfo(engine_id=e, alive=e not in dead) for e in ENGINES],
        symbols=list(symbols),
    )


def _symbol(name: str, epoch: int, primary: str, in_sync: int = 3) -> pb.SymbolPlacement:
    followers = [e for e in ENGINES if e != primary]
    members = [primary, *followers] if primary else list(ENGINES)
    return pb.SymbolPlacement(
        symbol=name, epoch=epoch, primary=primary, followers=followers, in_sync=members[:in_sync]
    )


HEALTHY = _placement(
    _symbol("BTC-USD", 4, "demo-engine-0"),
    _symbol("ETH-USD", 2, "demo-engine-1"),
    _symbol("SOL-USD", 9, "demo-engine-0"),
)


def test_a_healthy_placement_counts_symbols_per_primary() -> None:
    assert placement_summary(HEALTHY, {}) == {
        "symbols": 3,
        "epoch": 9,
        "led": {"demo-engine-0": 2, "demo-engine-1": 1, "demo-engine-2": 0},
        "electing": [],
        "underReplicated": [],
    }


def test_open_elections_and_short_in_sync_sets_are_named() -> None:
    after_failure = _placement(
        _symbol("BTC-USD", 5, ""),
        _symbol("ETH-USD", 2, "demo-engine-1", in_sync=2),
        _symbol("SOL-USD", 10, "demo-engine-2", in_sync=1),
        dead=("demo-engine-0",),
    )
    summary = placement_summary(after_failure, {})
    assert summary["led"] == {"demo-engine-1": 1, "demo-engine-2": 1}  # the dead one is gone
    assert summary["electing"] == ["BTC-USD"]  # an open election is not also under-replicated
    assert summary["underReplicated"] == ["ETH-USD", "SOL-USD"]


def test_an_empty_map_is_an_empty_summary_not_an_error() -> None:
    assert placement_summary(pb.Placement(), {}) == {
        "symbols": 0,
        "epoch": 0,
        "led": {},
        "electing": [],
        "underReplicated": [],
    }


def test_without_an_answer_the_last_summary_stays_and_says_why() -> None:
    previous = placement_summary(HEALTHY, {})
    kept = placement_summary(
        Unavailable("discovery at x:7000 did not answer: UNAVAILABLE"), previous
    )
    assert kept == {**previous, "unavailable": "discovery at x:7000 did not answer: UNAVAILABLE"}
    # The next answer replaces it all, the note included.
    assert placement_summary(HEALTHY, kept) == previous
    # Nothing known yet: only the note.
    assert placement_summary(Unavailable("not yet"), {}) == {"unavailable": "not yet"}


def _status(reading: placement.PlacementReading, previous: dict[str, Any]) -> dict[str, Any]:
    exchange = as_admitted(load_yaml(EXAMPLES / "exchange.yaml"))
    exchange["status"] = previous
    engines = EngineSet(3, 3, 3, 3, 1, 1)
    return exchange_status(
        exchange,
        Children(engines, discovery_available=True),
        degraded=None,
        placement=reading,
        endpoint="demo.trading.svc:7100",
        selector="app=dome",
        generation=1,
        now="2025-01-01T00:00:00Z",
    )


def test_electing_and_under_replicated_symbols_make_the_exchange_degraded() -> None:
    healthy = _status(HEALTHY, {})
    assert condition(healthy, "Degraded") is not None
    assert (condition(healthy, "Degraded") or {})["status"] == "False"

    electing = _status(_placement(_symbol("BTC-USD", 5, ""), _symbol("ETH-USD", 2, "x", 1)), {})
    found = condition(electing, "Degraded") or {}
    assert (found["status"], found["reason"]) == ("True", ELECTING)
    assert found["message"] == (
        "no primary while an election is open: BTC-USD; under-replicated: ETH-USD"
    )
    assert (condition(electing, "Ready") or {})["status"] == "True"  # engines are all up

    short = _status(_placement(_symbol("ETH-USD", 2, "demo-engine-1", in_sync=2)), {})
    found = condition(short, "Degraded") or {}
    assert (found["status"], found["reason"]) == ("True", UNDER_REPLICATED)
    assert "ETH-USD" in found["message"]


def test_a_placement_degradation_is_recomputed_not_carried_over_by_a_refresh() -> None:
    degraded = _status(_placement(_symbol("BTC-USD", 5, "")), {})
    assert current_degradation({"status": degraded}) is None
    # Once elected, the next status is no longer Degraded.
    healed = _status(HEALTHY, degraded)
    assert (condition(healed, "Degraded") or {})["status"] == "False"
    # The reconcile's own reasons still carry over.
    failed = {"status": {"conditions": [{"type": "Degraded", "status": "True", "reason": "X"}]}}
    assert current_degradation(failed) == Degradation("X", "")


def test_a_kept_summary_keeps_its_degradation() -> None:
    degraded = _status(_placement(_symbol("BTC-USD", 5, "")), {})
    kept = _status(Unavailable("discovery at x did not answer: UNAVAILABLE"), degraded)
    assert kept["placement"]["electing"] == ["BTC-USD"]
    assert (condition(kept, "Degraded") or {})["reason"] == ELECTING


def test_long_lists_are_cut_in_the_message_not_in_the_summary() -> None:
    symbols = [_symbol(f"S{i:03d}", 1, "") for i in range(25)]
    status = _status(_placement(*symbols), {})
    assert len(status["placement"]["electing"]) == 25
    message = (condition(status, "Degraded") or {})["message"]
    assert message.endswith("S009 and 15 more")


def test_every_placement_status_passes_the_crd_schema() -> None:
    exchange = load_yaml(EXAMPLES / "exchange.yaml")
    degraded = _status(_placement(_symbol("BTC-USD", 5, ""), _symbol("E", 1, "x", 1)), {})
    for status in (
        _status(HEALTHY, {}),
        degraded,
        _status(Unavailable("discovery at x did not answer: UNAVAILABLE"), degraded),
        _status(Unavailable("not yet"), {}),
    ):
        assert schema_errors({**exchange, "status": status}) == []


def test_the_crd_schema_refuses_a_misspelt_placement_field() -> None:
    exchange = load_yaml(EXAMPLES / "exchange.yaml")
    status = _status(HEALTHY, {})
    status["placement"]["primaries"] = {"demo-engine-0": 1}
    assert schema_errors({**exchange, "status": status})


def test_the_module_examples_hold() -> None:
    for module in (placement, status_rules):
        result = doctest.testmod(module)
        assert result.attempted > 0
        assert result.failed == 0
