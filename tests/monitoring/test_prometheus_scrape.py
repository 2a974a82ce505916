"""The real Prometheus scrapes a real ``dome up``; every query we ship returns data.

The scrape config mirrors what Kubernetes gives a ServiceMonitor target: the job is the
Service (the engines' ``<exchange>-engine-headless``, discovery's ``<exchange>-discovery``,
both found in ``cluster.json``), and ``namespace`` and ``pod`` (the engine id) are target
labels. The operator needs a Kubernetes API to run, so its metrics page is served here
from its registry (``OperatorMetrics``, as ``dome-operator`` serves it) under the job its
chart's Service gives it. Then every vector selector of every dashboard panel and alert
rule, with the dashboard variables set to this exchange, must return a series, and so
must every whole panel query and each variable's label lookup. A reject and a refused
call are provoked so the counters that only appear on first use exist. ``dome up`` also
runs its FIX gateway (``--fix-port``), scraped as ``<exchange>-fix`` as the gateway's
Service names its job, and a FIX session logs on and sends an order that is refused, so
the ``dome_fix_*`` series exist too.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from monitoring_queries import alert_rules, dashboard_exprs, dashboards, selectors, tool

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fix"))
from raw_fix import RawPeer, now

from dome.serving import serve_metrics
from dome_operator.metrics import OperatorMetrics
from processes import stop_process
from waiting import wait_for

NAMESPACE = "dome-test"
EXCHANGE = "dome"
JOB = f"{EXCHANGE}-engine-headless"
DISCOVERY_JOB = f"{EXCHANGE}-discovery"
FIX_JOB = f"{EXCHANGE}-fix"
OPERATOR_JOB = "r1-dome-metrics"
DEADLINE_S = 30.0
VARIABLES = {
    "$namespace": NAMESPACE,
    "$exchange": EXCHANGE,
    "$job": OPERATOR_JOB,
    "$__rate_interval": "10s",
    "$__range": "1m",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


class Prometheus:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            return None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def series(self, query: str) -> list[dict[str, Any]]:
        answer = self.get("/api/v1/query", query=query)
        if not answer or answer.get("status") != "success":
            return []
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``dome up --engines 1 --simulate 4`` on a temporary data dir; its engine as
    cluster.json says."""
    data = tmp_path / "dome"
    up = _start(
        [sys.executable, "-m", "dome.cli", "up", "--engines", "1", "--simulate", "4",
         "--fix-port", "0", "--duration", "90", "--data-dir", str(data)],
        tmp_path / "dome-up.log",
    )  # fmt: skip
    try:
        cluster = data / "cluster.json"
        # Written once everything serves, the FIX gateway (a QuickFIX acceptor and an
        # SDK client) included.
        wait_for(lambda: cluster.exists() or up.poll() is not None, 40, "cluster.json")
        assert up.poll() is None, (tmp_path / "dome-up.log").read_text()
        processes = json.loads(cluster.read_text())["processes"]
        (engine,) = [p for p in processes if p["role"] == "engine"]
        (discovery,) = [p for p in processes if p["role"] == "discovery"]
        (gateway,) = [p for p in processes if p["role"] == "fix"]
        engine["tokens"] = json.loads((data / "tokens.json").read_text())
        engine["discovery"] = discovery
        engine["fix"] = gateway
        yield engine
    finally:
        stop_process(up, signal.SIGINT, 10)


@pytest.fixture
def operator_metrics() -> Iterator[str]:
    """The operator's metrics page, as ``dome-operator --metrics-port`` serves it."""
    port, server = serve_metrics(OperatorMetrics().registry, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.shutdown()


def _scrape(job: str, url: str, pod: str) -> dict[str, Any]:
    metrics = urllib.parse.urlsplit(url)
    return {
        "job_name": job,
        "metrics_path": metrics.path,
        "static_configs": [
            {"targets": [metrics.netloc], "labels": {"namespace": NAMESPACE, "pod": pod}}
        ],
    }


@pytest.fixture
def prometheus(
    tmp_path: Path, exchange: dict[str, Any], operator_metrics: str
) -> Iterator[Prometheus]:
    discovery = exchange["discovery"]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            _scrape(JOB, exchange["metrics"], exchange["id"]),
            _scrape(DISCOVERY_JOB, discovery["metrics"], discovery["id"]),
            _scrape(FIX_JOB, exchange["fix"]["metrics"], exchange["fix"]["id"]),
            _scrape(OPERATOR_JOB, f"http://{operator_metrics}/metrics", "r1-dome-7c9"),
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    server = _start(
        [
            tool("prometheus"),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        tmp_path / "prometheus.log",
    )
    try:
        client = Prometheus(port)
        wait_for(
            lambda: client.ready() or server.poll() is not None,
            20,
            "Prometheus /-/ready",
            interval=0.2,
        )
        assert server.poll() is None, (tmp_path / "prometheus.log").read_text()
        yield client
    finally:
        stop_process(server, signal.SIGINT, 10)


def _provoke_reject_and_refusal(engine: dict[str, Any]) -> None:
    """An off-tick price (reject ``price_off_tick``) and a bad token (UNAUTHENTICATED)."""
    order = [sys.executable, "-m", "dome.cli", "order", "--target", engine["address"],
             "--symbol", "BTC-USD", "--side", "buy", "--qty", "0.1",
             "--price", "30000.001"]  # fmt: skip
    env = {**os.environ, "DOME_TOKEN": ""}
    calls = [
        subprocess.Popen([*order, "--token", engine["tokens"]["alice"]], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([*order, "--token", "not-a-token"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]  # fmt: skip
    assert [call.wait(30) for call in calls] == [0, 1]


def _provoke_fix_traffic(engine: dict[str, Any]) -> None:
    """A FIX session that logs on and sends an order for an unlisted symbol (refused)."""
    port = int(str(engine["fix"]["address"]).rsplit(":", 1)[1])
    peer = RawPeer(port, "alice")
    try:
        assert peer.logon(engine["tokens"]["alice"])[35] == "A"
        peer.send("D", "11=m-1", "55=NOPE-USD", "54=1", f"60={now()}", "38=1", "40=2", "44=1")
        peer.wait(lambda m: m.get(35) == "8" and m.get(11) == "m-1", "the order's reject")
    finally:
        peer.close()


def _substitute(expr: str, pod: str) -> str:
    for name, value in {**VARIABLES, "$engine": pod}.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, expr
    return expr


#: An alert on a latency quantile: ``histogram_quantile(...) > threshold`` (seconds).
LATENCY_ALERT = re.compile(
    r"(?P<quantity>histogram_quantile\(.*\))\s*>\s*(?P<threshold>[\d.]+)", re.S
)


def test_every_shipped_query_returns_data(exchange: dict[str, Any], prometheus: Prometheus) -> None:
    _provoke_reject_and_refusal(exchange)
    _provoke_fix_traffic(exchange)
    pod = exchange["id"]
    panel_exprs = sorted({_substitute(e, pod) for e in dashboard_exprs()})
    alert_exprs = [rule["expr"] for rule in alert_rules()]
    wanted = sorted(
        {_substitute(s, pod) for e in dashboard_exprs() for s in selectors(e)}
        | {s for e in alert_exprs for s in selectors(e)}
    )
    assert {"up", "dome_match_seconds_bucket", "dome_rejects_total"} <= {
        s.split("{")[0] for s in wanted
    }

    assert {
        "dome_discovery_elections_open",
        "dome_operator_reconciles_total",
        "dome_fix_sessions",
        "dome_fix_rejects_total",
    } <= {s.split("{")[0] for s in wanted}
    missing: list[str] = []

    def all_answer() -> bool:
        missing[:] = [q for q in [*wanted, *panel_exprs] if not prometheus.series(q)]
        return not missing

    wait_for(all_answer, DEADLINE_S, lambda: f"data for {missing}", interval=0.2)

    # The variables' lookups, as Grafana runs them, find this exchange's engine (the
    # operator's dashboard: the operator).
    for name, board in dashboards().items():
        job = OPERATOR_JOB if name == "operator.json" else JOB
        for variable in board["templating"]["list"][1:]:
            match = re.fullmatch(r"label_values\((.*), (\w+)\)", variable["query"])
            assert match, variable["query"]
            series, label = _substitute(match[1], pod), match[2]
            values = prometheus.get(f"/api/v1/label/{label}/values", **{"match[]": series})
            assert values["data"] == [{"namespace": NAMESPACE, "job": job, "pod": pod}[label]]

    # Healthy: the engine is up and no condition alert fires. A latency alert (a quantile
    # over a threshold) fires on a slow machine as it should, so whether it fires here
    # says nothing about the rule; what can be checked is that its quantity is computed
    # from real data and is in seconds (a unit slip would put it 1000x off).
    assert all(s["value"][1] == "1" for s in prometheus.series(f'up{{job="{JOB}"}}'))
    for expr in alert_exprs:
        latency = LATENCY_ALERT.fullmatch(expr)
        if latency is None:
            assert prometheus.series(expr) == [], expr
            continue
        values = [float(s["value"][1]) for s in prometheus.series(latency["quantity"])]
        assert values, f"no data for {latency['quantity']}"
        assert all(0 <= v < DEADLINE_S for v in values if not math.isnan(v)), (expr, values)
        assert 0 < float(latency["threshold"]) < 10, expr
