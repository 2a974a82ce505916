"""The discovery-leader failover figure: kill -9 the leader under load, on the real control plane.

    .venv/bin/python bench/discovery_failover.py --kills 3

runs tests/kube/test_kube_discovery_failover.py (kube-apiserver, controller manager,
scheduler and etcd from ``make k8s``; the local kubelet runs the pods as processes; an
Exchange with two engines and two discovery replicas) with ``DOME_FAILOVER_KILLS``
kills, one after another, each under a trader that retries every order until it is
acknowledged, and prints the report the test writes: per kill the time until the
standby held the Lease and the longest gap between two acknowledged orders from a
second before the kill until 30 orders after the new leader's recovery window, and the
same gap before any kill (one order's round trip, the floor). The test also proves
that no acknowledged order was lost and that ``dome check`` agrees, so a figure
printed is a figure of a correct run. Needs what the suite needs (``make k8s``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/kube/test_kube_discovery_failover.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=3, help="leader kills, one at a time")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    args = parser.parse_args()
    if args.kills < 1:
        parser.error("--kills must be at least 1")
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        env = {
            **os.environ,
            "DOME_FAILOVER_KILLS": str(args.kills),
            "DOME_FAILOVER_REPORT": str(report),
            "PATH": f"{ROOT / '.tools' / 'bin'}:{os.environ.get('PATH', '')}",
        }
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", f"{TEST}", "-k", "killing"],
            cwd=ROOT,
            env=env,
            check=False,
        )
        if run.returncode != 0 or not report.exists():
            print(f"the failover run failed (pytest exit {run.returncode})", file=sys.stderr)
            return 1
        text = report.read_text()
    if args.out is not None:
        args.out.write_text(text)
    print(json.dumps(json.loads(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
