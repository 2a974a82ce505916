"""Write every DOME dashboard as JSON into the chart: ``python -m dashboards.generate``.

The output is deterministic (sorted keys, panel ids numbered in order, no timestamps), so
the committed JSON is exactly what this module produces; tests/monitoring regenerates it
into a temporary folder and compares bytes. ``--out`` writes elsewhere, ``--check``
compares without writing (exit 1 when a committed dashboard is stale).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import exchange_overview, matching_latency, operator, replication

#: File name (without .json) → builder. One dashboard per concern.
DASHBOARDS: dict[str, Callable[[], dashboard.Dashboard]] = {
    "exchange-overview": exchange_overview.build,
    "matching-latency": matching_latency.build,
    "replication": replication.build,
    "operator": operator.build,
}

CHART_DASHBOARDS = Path(__file__).resolve().parent.parent / "charts" / "dome" / "dashboards"


def render(build: Callable[[], dashboard.Dashboard]) -> str:
    """One dashboard as the JSON text we commit."""
    model: dict[str, Any] = json.loads(json.dumps(build().build(), cls=JSONEncoder))
    for number, panel in enumerate(_panels(model), start=1):
        panel["id"] = number
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def _panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in model.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.generate", description=__doc__)
    parser.add_argument("--out", type=Path, default=CHART_DASHBOARDS, help="output folder")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = args.out / f"{name}.json"
        text = render(build)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for path in stale:
        print(f"stale: {path} (run `python -m dashboards.generate`)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
