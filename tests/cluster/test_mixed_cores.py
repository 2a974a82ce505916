"""A cluster that mixes book cores: one engine on the Python core beside two native ones.

Both cores promise byte-identical journal records, snapshots and state hashes
(DESIGN.md section 5), so which core an engine runs must not matter to its peers. Under
load, the primary is killed until the Python engine and a native engine have each led
after a failover: followers of either core apply the other's batches, no acknowledged
order is lost, the three state hashes agree, and the journals hold the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_harness import Cluster, wait_for
from cluster_load import Load, kill_primaries_until

import native_core
from dome.cores import NATIVE, PYTHON

SYMBOL = "AAA-USD"
PYTHON_ENGINE = "engine-0"

pytestmark = pytest.mark.timeout(300)


def _both_cores_led(leaders: list[str]) -> bool:
    return PYTHON_ENGINE in leaders and any(e != PYTHON_ENGINE for e in leaders)


def test_python_and_native_engines_replicate_each_other(tmp_path: Path) -> None:
    native_core.module()  # fails where the native core should be built, else skips
    cluster = Cluster(tmp_path, 3, symbols=(SYMBOL,))
    for proc in cluster.engines:
        proc.env = {"DOME_CORE": PYTHON if proc.name == PYTHON_ENGINE else NATIVE}
    try:
        cluster.start()
        cores = {proc.name: proc.info.get("core") for proc in cluster.engines}
        assert cores == {"engine-0": PYTHON, "engine-1": NATIVE, "engine-2": NATIVE}, cores
        load = Load(cluster, SYMBOL, "mixed").start()
        # Who took the lead after each kill, and so replicated to the other core.
        took_over = kill_primaries_until(cluster, load, SYMBOL, _both_cores_led)
        assert _both_cores_led(took_over), took_over
        load.stop()
        load.verify()
        hashes = wait_for(lambda: cluster.converged(SYMBOL), 15, "replicas converged")
        assert len(set(hashes.values())) == 1, hashes

        statuses = {e.name: cluster.status(e.name) for e in cluster.engines}
        first = max(s[SYMBOL].first_seq for s in statuses.values() if s)
        journals = {e.name: cluster.journal(e.name, SYMBOL, first) for e in cluster.engines}
        reference = journals[PYTHON_ENGINE]
        assert reference, "the Python engine's journal is empty"
        for name, batches in journals.items():
            assert batches == reference, f"{name}'s journal differs from {PYTHON_ENGINE}'s"
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
