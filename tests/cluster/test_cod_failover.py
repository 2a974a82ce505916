"""Cancel on disconnect survives the failover of the primary that held the orders.

A client process connected through discovery opts in to cancel on disconnect and rests
orders; then it is killed with -9 and, within its grace period, so is its symbol's
primary. The engine promoted in its place must cancel the orders: it held the session
too (the SDK opens it on every engine), saw it go, and sweeps the symbols it leads once
the grace has passed. Its cancels are ordinary log entries, so the remaining replicas
converge on the same book.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_harness import ACCOUNTS, running_cluster, wait_for

import cod_client
from dome.client import Client
from waiting import eventually

pytestmark = pytest.mark.timeout(180)

SYMBOL = "AAA-USD"


async def test_the_new_primary_cancels_a_gone_cod_session(tmp_path: Path) -> None:
    with running_cluster(tmp_path, 3, symbols=(SYMBOL,)) as cluster:
        cluster.wait_placed()
        proc, ids = cod_client.start(
            "--discovery", cluster.discovery_address, "--token", ACCOUNTS["alice"],
            "--symbol", SYMBOL, "--cod", "--grace", "3",
        )  # fmt: skip
        old = cluster.primary(SYMBOL)
        proc.kill()
        proc.wait()
        cluster.engine(old).kill()
        new = wait_for(
            lambda: (p := cluster.primary(SYMBOL)) and p != old and p,
            20,
            "a new primary",
        )
        view = Client(discovery=cluster.discovery_address, token=ACCOUNTS["alice"])
        await view.connect()
        try:

            async def flat() -> bool:
                return not await view.open_orders(SYMBOL)

            await eventually(flat, 30, "the orders cancelled on disconnect by the new primary")
            history = await view.history_page(SYMBOL)
            cancelled = sorted(r.order_id for r in history.reports if r.cancelled_qty)
            assert cancelled == sorted(ids)
        finally:
            await view.close()
        assert "cancelled on disconnect" in cluster.engine(new).log()
        live = [e for e in (f"engine-{i}" for i in range(3)) if e != old]
        wait_for(lambda: cluster.converged(SYMBOL, live), 20, "the replicas converged")
