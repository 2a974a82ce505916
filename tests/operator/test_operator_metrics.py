"""The operator's metrics: served by ``dome-operator --metrics-port``, bounded, at 0 first.

What the handlers count is checked where they run (test_handlers.py); here the command
line, the page and the bookkeeping of Exchanges by readiness.
"""

from __future__ import annotations

import urllib.request

import pytest

from dome.serving import serve_metrics
from dome_operator.cli import (
    DEFAULT_METRICS_PORT,
    METRICS_PORT_ENV,
    kopf_arguments,
    split_arguments,
)
from dome_operator.metrics import ACTIONS, OUTCOMES, PLACEMENT_RESULTS, OperatorMetrics


def test_metrics_port_is_ours_and_the_rest_goes_to_kopf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METRICS_PORT_ENV, raising=False)
    chart = ["--standalone", "--liveness=http://0.0.0.0:8081/healthz", "--metrics-port=9300",
             "--namespace=trading"]  # fmt: skip
    port, rest = split_arguments(chart)
    assert port == 9300
    assert kopf_arguments(rest) == [
        "run", "--module", "dome_operator.handlers",
        "--standalone", "--liveness=http://0.0.0.0:8081/healthz", "--namespace=trading",
    ]  # fmt: skip
    assert split_arguments(["--standalone"]) == (DEFAULT_METRICS_PORT, ["--standalone"])
    monkeypatch.setenv(METRICS_PORT_ENV, "-1")
    assert split_arguments(["--metrics-port", "9400"])[0] == 9400
    assert split_arguments([])[0] == -1  # the variable, when the flag is absent
    with pytest.raises(SystemExit):
        split_arguments(["--metrics-port=70000"])


def test_every_series_exists_before_its_first_event() -> None:
    metrics = OperatorMetrics()
    sample = metrics.registry.get_sample_value
    for outcome in OUTCOMES:
        assert sample("dome_operator_reconciles_total", {"outcome": outcome}) == 0
    for action in ACTIONS:
        assert sample("dome_operator_objects_total", {"action": action}) == 0
    for result in PLACEMENT_RESULTS:
        assert sample("dome_operator_placement_reads_total", {"result": result}) == 0
    for ready in ("True", "False", "Unknown"):
        assert sample("dome_operator_exchanges", {"ready": ready}) == 0
    assert sample("dome_operator_reconcile_seconds_count") == 0


def test_exchanges_are_counted_once_by_their_latest_ready_status() -> None:
    metrics = OperatorMetrics()

    def ready(status: str) -> float | None:
        return metrics.registry.get_sample_value("dome_operator_exchanges", {"ready": status})

    metrics.exchange_ready("trading", "main", "False")
    metrics.exchange_ready("trading", "main", "True")
    metrics.exchange_ready("staging", "main", "True")
    metrics.exchange_ready("staging", "other", "Strange")
    assert (ready("True"), ready("False"), ready("Unknown")) == (2, 0, 1)
    metrics.exchange_ready("trading", "main", None)  # deleted
    assert (ready("True"), ready("False"), ready("Unknown")) == (1, 0, 1)


def test_the_page_is_served() -> None:
    metrics = OperatorMetrics()
    with metrics.reconciling():
        metrics.reconciled("success")
    metrics.handled_objects(applied=2, unchanged=9, pruned=1)
    metrics.placement_read(False)
    port, server = serve_metrics(metrics.registry, "127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            page = response.read().decode()
    finally:
        server.shutdown()
    assert 'dome_operator_reconciles_total{outcome="success"} 1.0' in page
    assert 'dome_operator_objects_total{action="unchanged"} 9.0' in page
    assert 'dome_operator_placement_reads_total{result="unavailable"} 1.0' in page
    assert "dome_operator_reconcile_seconds_count 1.0" in page
