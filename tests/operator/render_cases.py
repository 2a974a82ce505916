"""The Exchanges the render tests run on, each with the APIs its cluster serves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from operator_helpers import EXAMPLES, GOOD_EXCHANGES, as_admitted, load_yaml

from dome_operator.render import SERVICE_MONITOR_API


@dataclass(frozen=True)
class RenderCase:
    name: str
    source: Path
    available_apis: frozenset[str] = frozenset()

    def exchange(self) -> dict[str, Any]:
        document: dict[str, Any] = as_admitted(load_yaml(self.source))
        return document


CASES = [
    RenderCase("example", EXAMPLES / "exchange.yaml"),
    RenderCase("minimal", GOOD_EXCHANGES / "minimal.yaml"),
    RenderCase(
        "service-monitor",
        GOOD_EXCHANGES / "service-monitor.yaml",
        frozenset({SERVICE_MONITOR_API, "apps/v1"}),
    ),
    RenderCase("tls-storage-resources", GOOD_EXCHANGES / "tls-storage-resources.yaml"),
]
