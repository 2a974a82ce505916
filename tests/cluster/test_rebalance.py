"""Engines joining later: they catch up, enter the in-sync set and take a share of leads.

Discovery places everything on the engines it has; engines that register later become
followers, and once in sync, primaries move to them by handoff. On an idle symbol no
batch ever flows, so being caught up must be recognised without one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_harness import Cluster, wait_for

pytestmark = pytest.mark.timeout(120)

SYMBOLS = ("A-USD", "B-USD", "C-USD", "D-USD")


def test_late_engines_enter_in_sync_and_take_leads(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 3, symbols=SYMBOLS)
    try:
        cluster.discovery.start()
        cluster.discovery_address = cluster.discovery.address
        for engine in cluster.engines:
            engine.args[engine.args.index("DISCOVERY")] = cluster.discovery_address
        cluster.engines[0].start()
        wait_for(
            lambda: (
                all(sp.primary == "engine-0" for sp in cluster.placement().symbols)
                and len(cluster.placement().symbols) == len(SYMBOLS)
            ),
            30,
            "everything placed on the only engine",
        )
        cluster.engines[1].start()
        cluster.engines[2].start()

        def balanced() -> bool:
            placement = cluster.placement()
            in_sync = all(len(sp.in_sync) == 3 for sp in placement.symbols)
            leads = {sp.primary for sp in placement.symbols}
            return in_sync and leads == {"engine-0", "engine-1", "engine-2"}

        try:
            wait_for(balanced, 30, "all replicas in sync and every engine leading something")
        except AssertionError:
            print(cluster.placement())
            raise
        cluster.wait_placed()
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
