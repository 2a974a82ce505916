"""The cluster benchmark's audit and routing: lost and repeated orders are counted, not missed."""

from __future__ import annotations

from typing import Any

from dome.bench.cluster import ReplicaOrders, audit
from dome.bench.load import make_streams

PLACEMENT = {"symbols": {"XYZ": {"primary": "e1", "followers": ["e0", "e2"]}}}
# Acknowledged: (seq, order id, client order id).
LOADS = [{"orders": {"XYZ": [[1, 11, "a"], [2, 12, "b"], [4, 14, "d"]]}}]


def _journal(*orders: tuple[int, int, str]) -> ReplicaOrders:
    return {seq: (oid, "acct", coid) for seq, oid, coid in orders}, max(s for s, _, _ in orders)


FULL = _journal((1, 11, "a"), (2, 12, "b"), (3, 13, "c"), (4, 14, "d"))


def _audit(e0: ReplicaOrders, e2: ReplicaOrders = FULL) -> dict[str, Any]:
    journals = {("XYZ", "e1"): FULL, ("XYZ", "e0"): e0, ("XYZ", "e2"): e2}
    return audit(PLACEMENT, journals, LOADS)


def test_every_order_everywhere_passes() -> None:
    assert _audit(FULL) == {"lost": 0, "duplicates": 0, "audited": 9, "problems": []}


def test_an_order_missing_on_one_follower_is_lost() -> None:
    result = _audit(_journal((1, 11, "a"), (2, 12, "b"), (3, 13, "c")))
    assert result["lost"] == 1
    assert result["problems"]


def test_another_order_at_an_acknowledged_seq_is_lost() -> None:
    result = _audit(_journal((1, 11, "a"), (2, 99, "z"), (3, 13, "c"), (4, 14, "d")))
    assert result["lost"] == 1


def test_a_client_order_id_journaled_twice_is_a_duplicate() -> None:
    twice = _journal((1, 11, "a"), (2, 12, "b"), (3, 13, "a"), (4, 14, "d"))
    result = _audit(twice, twice)
    assert (result["lost"], result["duplicates"]) == (0, 1)


def test_routes_split_streams_and_rate_by_symbols_led() -> None:
    config = {
        "symbols": [{}, {}, {}, {}],
        "rate": 800.0,
        "target": "unused",
        "routes": [{"target": "a", "symbols": [0, 1, 2]}, {"target": "b", "symbols": [3]}],
        "streams": [
            {"account": "x", "token": "t", "side": 1},
            {"account": "y", "token": "u", "side": 2},
        ],
    }
    streams, rates = make_streams(config)
    assert [(s.target, s.symbols, s.side) for s in streams] == [
        ("a", [0, 1, 2], 1), ("a", [0, 1, 2], 2), ("b", [3], 1), ("b", [3], 2)]  # fmt: skip
    assert rates == [300.0, 300.0, 100.0, 100.0]
    del config["routes"]
    streams, rates = make_streams(config)
    assert [(s.target, s.symbols) for s in streams] == [("unused", [0, 1, 2, 3])] * 2
