"""The operator's GetPlacement against a real discovery, and against ones that cannot answer.

A failing discovery must cost at most one short deadline and never an exception: the
status refresh that asks keeps the operator's other work going.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from discovery_runtime import running_discovery
from operator_helpers import EXAMPLES, as_admitted, load_yaml
from operator_runtime import free_port

from dome.v1 import discovery_pb2 as pb
from dome_operator.discovery_client import (
    ADDRESS_ENV,
    TLS_UNSUPPORTED,
    discovery_target,
    read_placement,
)
from dome_operator.exchange import Exchange, read_exchange
from dome_operator.placement import Unavailable, placement_summary
from waiting import eventually

SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD")
ENGINES = ("demo-engine-0", "demo-engine-1", "demo-engine-2")


def _demo(**spec: Any) -> Exchange:
    document = as_admitted(load_yaml(EXAMPLES / "exchange.yaml"))
    document["spec"].update(spec)
    return read_exchange(document)


def test_the_operator_dials_the_discovery_service_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    assert discovery_target(_demo()) == "demo-discovery.trading.svc:7000"
    monkeypatch.setenv(ADDRESS_ENV, "127.0.0.1:17000/{namespace}/{name}")
    assert discovery_target(_demo()) == "127.0.0.1:17000/trading/demo"


async def test_placement_comes_from_a_real_discovery_and_follows_a_failover(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running_discovery(SYMBOLS, ENGINES) as discovery:
        monkeypatch.setenv(ADDRESS_ENV, discovery.address)
        reading = await read_placement(_demo())
        assert isinstance(reading, pb.Placement)
        summary = placement_summary(reading, {})
        assert summary["symbols"] == 3
        assert summary["led"] == dict.fromkeys(ENGINES, 1)  # discovery spreads primaries
        assert summary["electing"] == summary["underReplicated"] == []

        # The primary of one symbol dies; discovery elects another from its replicas.
        lost = next(s.symbol for s in reading.symbols if s.primary == "demo-engine-0")
        await discovery.stop_engine("demo-engine-0")

        async def failed_over() -> dict[str, Any] | None:
            now = await read_placement(_demo())
            assert isinstance(now, pb.Placement)
            primaries = {s.symbol: s.primary for s in now.symbols}
            if primaries[lost] in ("", "demo-engine-0"):
                return None
            return placement_summary(now, summary)

        after = await eventually(
            failed_over, 10.0, "a new primary for the lost symbol", interval=0.05
        )
        assert sorted(after["led"]) == ["demo-engine-1", "demo-engine-2"]
        assert sum(after["led"].values()) == 3
        assert after["epoch"] > summary["epoch"]
        # Two replicas left of three: the failed-over symbol is one failure from stopping.
        assert lost in after["underReplicated"]


async def test_an_unreachable_discovery_is_unavailable_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ADDRESS_ENV, f"127.0.0.1:{free_port()}")
    reading = await read_placement(_demo())
    assert isinstance(reading, Unavailable)
    assert reading.reason.endswith("did not answer: UNAVAILABLE")


async def test_a_discovery_that_never_answers_costs_one_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Accepts connections (the kernel's backlog) but never speaks HTTP/2.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv(ADDRESS_ENV, f"127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        reading = await read_placement(_demo(), deadline=0.5)
        elapsed = time.monotonic() - started
    assert isinstance(reading, Unavailable)
    assert "DEADLINE_EXCEEDED" in reading.reason
    assert elapsed < 1.5


async def test_a_tls_exchange_is_not_asked_since_the_operator_has_no_certificate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ADDRESS_ENV, "203.0.113.1:7000")  # would hang if dialled
    reading = await read_placement(_demo(tls={"secretName": "demo-tls"}))
    assert reading == Unavailable(TLS_UNSUPPORTED)
