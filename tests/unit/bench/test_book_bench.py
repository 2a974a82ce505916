"""The book benchmark runs, reports what the CLI promises, and its engines agree."""

from __future__ import annotations

import pytest

from dome.bench.book import generate_ops, run_book_bench

KEYS = {"workload", "ops", "ops_per_sec", "peer", "peer_ops_per_sec", "ratio", "engine", "fills"}


@pytest.mark.parametrize("workload", ["A", "B"])
def test_bench_against_liquibook_reports_and_fills_match(workload: str) -> None:
    pytest.importorskip("liquibook", reason="the peer run needs liquibook")
    # run_book_bench raises RuntimeError when the fill counts differ
    result = run_book_bench(workload=workload, ops=2_000, vs="liquibook", repeats=1)
    assert set(result) == KEYS
    assert (result["workload"], result["ops"], result["peer"]) == (workload, 2_000, "liquibook")
    assert isinstance(result["fills"], int)
    assert result["fills"] > 0
    for key in ("ops_per_sec", "peer_ops_per_sec", "ratio"):
        value = result[key]
        assert isinstance(value, float)
        assert value > 0


def test_bench_without_a_peer_leaves_peer_fields_empty() -> None:
    result = run_book_bench(ops=2_000, repeats=1)
    assert (result["peer"], result["peer_ops_per_sec"], result["ratio"]) == (None, None, None)
    assert result["engine"] in {"OrderBook", "ReferenceBook"}


def test_workloads_are_deterministic_and_shaped_as_documented() -> None:
    a = generate_ops("A", 5_000, seed=7)
    assert a == generate_ops("A", 5_000, seed=7)
    assert a != generate_ops("A", 5_000, seed=8)
    cancels = [op for op in a if op.cancel_of is not None]
    assert 0.07 < len(cancels) / len(a) < 0.13
    b = generate_ops("B", 5_000, seed=7)
    buys = [op.price - 100_000 for op in b if op.cancel_of is None and op.is_buy]
    sells = [op.price - 100_000 for op in b if op.cancel_of is None and not op.is_buy]
    assert (min(buys), max(buys), min(sells), max(sells)) == (-50, 2, -2, 50)
    assert all(1 <= op.qty <= 100 for op in b if op.cancel_of is None)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"workload": "C"}, ValueError), ({"vs": "nasdaq"}, ValueError), ({"ops": 0}, ValueError)],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        run_book_bench(**kwargs)  # type: ignore[arg-type]


def test_bench_refuses_engines_that_disagree(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("liquibook", reason="the peer run needs liquibook")
    import dome.bench.book as bench

    real = bench._run_liquibook
    monkeypatch.setattr(bench, "_run_liquibook", lambda ops: (real(ops)[0], -1))
    with pytest.raises(RuntimeError, match="disagree"):
        bench.run_book_bench(ops=500, vs="liquibook", repeats=1)
