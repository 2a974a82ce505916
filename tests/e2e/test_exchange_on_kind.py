"""An Exchange's life on a real cluster: trade, read back, repair, fail over discovery,
scale, roll, delete.

The tests run in file order against the one cluster of the session, each starting from
where the previous one left the Exchange, because that is how an operator's users meet
it: orders placed through the client Service must be on every replica, survive a
rolling image update (the journals are on volumes), and deleting the Exchange must take
its workloads with it but keep the journals. Orders go through the real SDK over
``kubectl port-forward``, as a trader outside the cluster would connect.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

import pytest
from kind_cluster import (
    ENGINE_PORT,
    EXCHANGE,
    IMAGE_REPOSITORY,
    CommandFailed,
    KindCluster,
    accounts,
    wait_until,
)

from dome.client import BookSnapshot, Client, OrderResult
from dome.core.types import OrderStatus

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

SYMBOL = "BTC-USD"
ENGINES = f"app.kubernetes.io/instance={EXCHANGE},app.kubernetes.io/component=engine"
EVERYTHING = f"app.kubernetes.io/instance={EXCHANGE}"
#: What the operator creates for an Exchange (PVCs are left out: they outlive it).
CHILD_KINDS = (
    "statefulsets,deployments,pods,services,configmaps,serviceaccounts,roles,rolebindings,"
    "poddisruptionbudgets,networkpolicies"
)
ROLL_TAG = "e2e-roll"
REPLICA_TIMEOUT = 60.0
#: The operator restores a deleted child within this (issue 13: 30 s, plus kubectl's time).
REPAIR_TIMEOUT = 60.0
#: Discovery's leader election Lease (discovery/leader.py).
LEADER_LEASE = f"{EXCHANGE}-discovery-leader"
ROLLOUT_TIMEOUT = 900.0


@dataclass(frozen=True)
class Trade:
    resting: OrderResult
    taking: OrderResult


async def _trade(target: str) -> Trade:
    tokens = accounts()
    async with Client(target, tokens["alice"]) as alice, Client(target, tokens["bob"]) as bob:
        resting = await alice.submit_order(SYMBOL, "sell", "0.5", "30000.10", "limit")
        taking = await bob.submit_order(SYMBOL, "buy", "0.2", "30000.10", "ioc")
    return Trade(resting, taking)


async def _book(target: str, at_least: int) -> BookSnapshot:
    """The book once this engine has applied sequence ``at_least``: followers apply
    what they journaled a moment after the primary acknowledged it."""
    async with Client(target, accounts()["alice"]) as client:
        deadline = asyncio.get_running_loop().time() + REPLICA_TIMEOUT
        while True:
            book = await client.book(SYMBOL)
            if book.seq >= at_least:
                return book
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{target}: {SYMBOL} at seq {book.seq}, want {at_least}")
            await asyncio.sleep(0.2)


def _assert_rest_of_the_sell(book: BookSnapshot) -> None:
    assert book.bids == ()
    assert [(level.price, level.qty, level.order_count) for level in book.asks] == [
        (Decimal("30000.10"), Decimal("0.3"), 1)
    ]


@pytest.fixture(scope="module")
def trade(cluster: KindCluster) -> Trade:
    """Alice rests a sell, Bob takes part of it, both through the client Service."""
    with cluster.port_forward(f"svc/{EXCHANGE}", ENGINE_PORT) as target:
        return asyncio.run(_trade(target))


def test_orders_match_through_the_client_service(trade: Trade) -> None:
    assert trade.resting.status is OrderStatus.NEW
    assert trade.taking.status is OrderStatus.FILLED
    assert [(fill.price, fill.qty) for fill in trade.taking.fills] == [
        (Decimal("30000.10"), Decimal("0.2"))
    ]


@pytest.mark.parametrize("pod", ["demo-engine-1", "demo-engine-0", "demo-engine-2"])
async def test_every_engine_serves_the_book(cluster: KindCluster, trade: Trade, pod: str) -> None:
    # The example replicates every symbol to all three engines, so whichever engine the
    # Service picked, the others hold the same book.
    with cluster.port_forward(f"pod/{pod}", ENGINE_PORT) as target:
        book = await _book(target, trade.taking.seq)
    _assert_rest_of_the_sell(book)


def _uid(cluster: KindCluster, resource: str) -> str:
    """The object's uid, or "" while it does not exist."""
    try:
        return cluster.kubectl("get", resource, "--output", "jsonpath={.metadata.uid}")
    except CommandFailed:
        return ""


async def test_a_deleted_client_service_is_restored_and_serves(
    cluster: KindCluster, trade: Trade
) -> None:
    before = _uid(cluster, f"svc/{EXCHANGE}")
    assert before, "no client Service"
    cluster.kubectl("delete", f"svc/{EXCHANGE}", "--wait=true")
    wait_until(
        "the operator to restore the client Service",
        lambda: _uid(cluster, f"svc/{EXCHANGE}") not in ("", before),
        REPAIR_TIMEOUT,
    )
    with cluster.port_forward(f"svc/{EXCHANGE}", ENGINE_PORT) as target:
        book = await _book(target, trade.taking.seq)
    _assert_rest_of_the_sell(book)


def _leader(cluster: KindCluster) -> str:
    return cluster.kubectl(
        "get", f"lease/{LEADER_LEASE}", "--output", "jsonpath={.spec.holderIdentity}"
    )


async def test_killing_the_discovery_leader_keeps_the_exchange_trading(
    cluster: KindCluster, trade: Trade
) -> None:
    """The engines ride discovery's handover: orders placed while the standby takes the
    Lease are acknowledged (each cancelled again, so the book the later tests read is
    the trade's)."""
    leader = _leader(cluster)
    assert leader, "no discovery leader"
    cluster.kubectl("delete", f"pod/{leader}", "--grace-period=0", "--force", "--wait=false")
    results: list[OrderResult] = []
    with cluster.port_forward(f"svc/{EXCHANGE}", ENGINE_PORT) as target:
        async with Client(target, accounts()["bob"]) as bob:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + REPAIR_TIMEOUT
            while (taken := _leader(cluster)) in ("", leader) or len(results) < 20:
                if loop.time() > deadline:
                    raise TimeoutError(f"the Lease is still {taken!r} after {len(results)} orders")
                placed = await bob.submit_order(SYMBOL, "buy", "0.1", "100.00", "limit")
                results.append(placed)
                await bob.cancel_order(SYMBOL, placed.order_id)
    assert all(r.status is OrderStatus.NEW for r in results), results
    with cluster.port_forward(f"svc/{EXCHANGE}", ENGINE_PORT) as target:
        book = await _book(target, trade.taking.seq)
    _assert_rest_of_the_sell(book)


def test_kubectl_scale_adds_ready_engines(cluster: KindCluster) -> None:
    cluster.kubectl("scale", f"exchange/{EXCHANGE}", "--replicas=5")
    cluster.wait_jsonpath(
        f"statefulset/{EXCHANGE}-engine", ".status.readyReplicas", "5", ROLLOUT_TIMEOUT
    )
    cluster.wait_ready()
    status = cluster.kubectl(
        "get", f"exchange/{EXCHANGE}",
        "--output", "jsonpath={.status.engines} {.status.readyEngines}",
    )  # fmt: skip
    assert status.split() == ["5", "5"]
    assert len(cluster.names("pods", ENGINES)) == 5


async def test_a_new_image_rolls_every_engine_and_keeps_the_book(
    cluster: KindCluster, trade: Trade
) -> None:
    image = cluster.build_image(ROLL_TAG, revision=ROLL_TAG)
    cluster.kubectl(
        "patch", f"exchange/{EXCHANGE}", "--type=merge",
        "--patch", f'{{"spec":{{"image":{{"tag":"{ROLL_TAG}"}}}}}}',
    )  # fmt: skip
    engines, discovery = f"statefulset/{EXCHANGE}-engine", f"deployment/{EXCHANGE}-discovery"
    for workload in (engines, discovery):
        # First the operator's update, then the rollout: `rollout status` on the old
        # template would report the old rollout as complete.
        cluster.wait_jsonpath(
            workload, ".spec.template.spec.containers[0].image", image, ROLLOUT_TIMEOUT
        )
    cluster.kubectl(
        "rollout", "status", discovery, f"--timeout={ROLLOUT_TIMEOUT:.0f}s",
        timeout=ROLLOUT_TIMEOUT + 30,
    )  # fmt: skip
    # The engines are OnDelete: the operator deletes one pod at a time (`rollout status`
    # covers RollingUpdate only), so wait for the controller's count of updated pods.
    cluster.wait_jsonpath(engines, ".status.updatedReplicas", "5", ROLLOUT_TIMEOUT)
    cluster.wait_jsonpath(engines, ".status.readyReplicas", "5", ROLLOUT_TIMEOUT)
    cluster.wait_ready()
    rolled = cluster.kubectl(
        "get", "events", "--field-selector",
        f"involvedObject.name={EXCHANGE},reason=EngineRolled",
        "--output", 'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
    ).splitlines()  # fmt: skip
    replaced = [message.split()[1] for message in rolled if message.startswith("replacing ")]
    assert sorted(replaced) == [f"{EXCHANGE}-engine-{n}" for n in range(5)], rolled
    images = cluster.kubectl(
        "get", "pods", "--selector", EVERYTHING,
        "--output", "jsonpath={.items[*].spec.containers[0].image}",
    ).split()  # fmt: skip
    assert images, "no pods"
    assert set(images) == {f"{IMAGE_REPOSITORY}:{ROLL_TAG}"}
    with cluster.port_forward(f"svc/{EXCHANGE}", ENGINE_PORT) as target:
        book = await _book(target, trade.taking.seq)
    _assert_rest_of_the_sell(book)


def test_deleting_the_exchange_removes_its_workloads_and_keeps_its_journals(
    cluster: KindCluster,
) -> None:
    cluster.kubectl(
        "delete", f"exchange/{EXCHANGE}", "--cascade=foreground", "--wait=true",
        f"--timeout={ROLLOUT_TIMEOUT:.0f}s", timeout=ROLLOUT_TIMEOUT + 30,
    )  # fmt: skip
    wait_until(
        f"every object of {EXCHANGE} deleted",
        lambda: not cluster.names(CHILD_KINDS, EVERYTHING),
        ROLLOUT_TIMEOUT,
    )
    # persistentVolumeClaimRetentionPolicy Retain: a deleted exchange's record stays.
    claims = cluster.names("persistentvolumeclaims", ENGINES)
    assert len(claims) == 5, claims
