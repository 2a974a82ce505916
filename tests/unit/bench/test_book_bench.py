"""The book benchmark runs, reports what the CLI promises, and its engines agree."""

from __future__ import annotations

import pytest

from dome.bench.book import generate_ops, native_built, run_book_bench

KEYS = {
    "workload", "ops", "batch", "ops_per_sec", "peer", "peer_ops_per_sec", "ratio", "engine",
    "fills", "cores",
}  # fmt: skip


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
    # Both cores side by side where the native one is built (through bytes and through
    # objects), each against the peer.
    cores = result["cores"]
    assert isinstance(cores, dict)
    built = {"native", "native/objects", "python"}
    assert set(cores) == (built if native_built() else {"python"})
    assert result["engine"] == next(iter(cores))
    for figures in cores.values():
        assert figures["ops_per_sec"] > 0
        assert figures["ratio"] > 0


def test_bench_without_a_peer_leaves_peer_fields_empty() -> None:
    result = run_book_bench(ops=2_000, repeats=1)
    assert (result["peer"], result["peer_ops_per_sec"], result["ratio"]) == (None, None, None)
    assert result["engine"] == ("native" if native_built() else "python")
    assert result["batch"] == 500


def test_one_core_alone() -> None:
    result = run_book_bench(ops=1_500, repeats=1, core="python", batch=100)
    assert (result["engine"], list(result["cores"]), result["batch"]) == ("python", ["python"], 100)
    if native_built():
        native = run_book_bench(ops=1_500, repeats=1, core="native", batch=100)
        assert native["fills"] == result["fills"]
        assert list(native["cores"]) == ["native", "native/objects"]


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
    [
        ({"workload": "C"}, ValueError),
        ({"vs": "nasdaq"}, ValueError),
        ({"ops": 0}, ValueError),
        ({"core": "java"}, ValueError),
        ({"batch": 0}, ValueError),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        run_book_bench(**kwargs)  # type: ignore[arg-type]


def test_bytes_whose_trades_disagree_with_their_count_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not native_built():
        pytest.skip("the native core is not built")
    import dome.bench.book as bench
    from dome.v1 import effects_pb2 as fx

    real = bench._market

    class Miscounting:
        def __init__(self, market: object) -> None:
            self._market = market

        def apply_encoded_effects(self, data: bytes) -> bytes:
            batch = fx.BatchEffects.FromString(self._market.apply_encoded_effects(data))  # type: ignore[attr-defined]
            batch.trades += 1
            return batch.SerializeToString()

    monkeypatch.setattr(bench, "_market", lambda core: Miscounting(real(core)))
    with pytest.raises(RuntimeError, match="counts"):
        bench.run_book_bench(ops=500, repeats=1, core="native")


def test_bench_refuses_engines_that_disagree(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("liquibook", reason="the peer run needs liquibook")
    import dome.bench.book as bench

    real = bench._run_liquibook
    monkeypatch.setattr(bench, "_run_liquibook", lambda ops: (real(ops)[0], -1))
    with pytest.raises(RuntimeError, match="disagree"):
        bench.run_book_bench(ops=500, vs="liquibook", repeats=1)
