"""The Exchanges the render tests run on, each with the APIs its cluster serves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from operator_helpers import EXAMPLES, GOOD_EXCHANGES, as_admitted, load_yaml

from dome_operator import render
from dome_operator.render import PROMETHEUS_RULE_API, SERVICE_MONITOR_API


@dataclass(frozen=True)
class RenderCase:
    name: str
    source: Path
    available_apis: frozenset[str] = frozenset()
    #: Where the operator runs; None for one outside the cluster.
    operator_namespace: str | None = None

    def exchange(self) -> dict[str, Any]:
        document: dict[str, Any] = as_admitted(load_yaml(self.source))
        return document

    def render(self) -> list[dict[str, Any]]:
        return render(
            self.exchange(),
            available_apis=self.available_apis,
            operator_namespace=self.operator_namespace,
        )


CASES = [
    RenderCase("example", EXAMPLES / "exchange.yaml", operator_namespace="dome-system"),
    RenderCase("minimal", GOOD_EXCHANGES / "minimal.yaml"),
    RenderCase(
        "service-monitor",
        GOOD_EXCHANGES / "service-monitor.yaml",
        frozenset({SERVICE_MONITOR_API, PROMETHEUS_RULE_API, "apps/v1"}),
    ),
    RenderCase("tls-storage-resources", GOOD_EXCHANGES / "tls-storage-resources.yaml"),
    RenderCase("pod-settings", GOOD_EXCHANGES / "pod-settings.yaml"),
    RenderCase(
        "fix-gateway",
        GOOD_EXCHANGES / "fix-gateway.yaml",
        frozenset({SERVICE_MONITOR_API, "apps/v1"}),
    ),
]
