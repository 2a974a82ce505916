"""Discovery's ``--store kubernetes`` against real Leases in kube-apiserver.

The store is used only through its public face, ``KubernetesStore.in_cluster`` (what
``dome discovery --store kubernetes`` builds) and ``load``/``put``, logged in as the
discovery ServiceAccount with the Role the operator renders for it: RBAC is the real
API server's. Compare-and-set is by ``resourceVersion``; two writers that read the same
version race, and exactly one may win each time, the other getting ``StoreConflict``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from control_plane import ControlPlane
from kube_api import resource_path

from dome.discovery.kube_store import KubernetesStore
from dome.discovery.records import SymbolRecord
from dome.discovery.store import StoreConflict, StoreError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))
from operator_helpers import EXAMPLES, as_admitted, load_yaml

from dome_operator import render

NAMESPACE = "leases"
SYMBOL = "BTC-USD"
ROUNDS = 20


@pytest.fixture(scope="module")
def discovery_account(plane: ControlPlane) -> str:
    """The rendered discovery ServiceAccount, Role and RoleBinding, in their own namespace."""
    plane.api.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    objects = render(as_admitted(load_yaml(EXAMPLES / "exchange.yaml")))
    kinds = {"ServiceAccount": "serviceaccounts", "Role": "roles", "RoleBinding": "rolebindings"}
    wanted = [o for o in objects if o["kind"] in kinds and "discovery" in o["metadata"]["name"]]
    assert {o["kind"] for o in wanted} == set(kinds), [o["metadata"]["name"] for o in wanted]
    for obj in wanted:
        obj = _moved(obj)
        version = obj["apiVersion"]
        path = resource_path(version, kinds[obj["kind"]], NAMESPACE, obj["metadata"]["name"])
        plane.api.apply(path, obj)
    (account,) = (o["metadata"]["name"] for o in wanted if o["kind"] == "ServiceAccount")
    return account


def _moved(obj: dict[str, Any]) -> dict[str, Any]:
    obj = {**obj, "metadata": {**obj["metadata"], "namespace": NAMESPACE}}
    obj["metadata"].pop("ownerReferences", None)
    if obj["kind"] == "RoleBinding":
        obj["subjects"] = [{**s, "namespace": NAMESPACE} for s in obj["subjects"]]
    return obj


@pytest.fixture
def in_cluster(
    plane: ControlPlane, discovery_account: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment a discovery pod has: the API server's address and its token."""
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(plane.token(NAMESPACE, discovery_account))
    (account / "ca.crt").write_bytes(plane.certs.ca.read_bytes())
    (account / "namespace").write_text(NAMESPACE)
    host, port = plane.url.removeprefix("https://").rsplit(":", 1)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    monkeypatch.setenv("DOME_SERVICE_ACCOUNT_DIR", str(account))


def _record(epoch: int, primary: str) -> SymbolRecord:
    return SymbolRecord(epoch, primary, ("e1", "e2"), ("e1", "e2"))


async def test_two_writers_one_winner_per_version(plane: ControlPlane, in_cluster: None) -> None:
    prefix = "race"
    one, two = (KubernetesStore.in_cluster(NAMESPACE, prefix) for _ in range(2))
    try:
        # Creating: both find no Lease and POST; the API server lets one create it.
        first = await asyncio.gather(
            one.put(SYMBOL, _record(1, "one"), None),
            two.put(SYMBOL, _record(1, "two"), None),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in first) == ["StoreConflict", "str"], first
        wins = {"one": 0, "two": 0}
        wins[("one", "two")[[isinstance(r, str) for r in first].index(True)]] += 1
        for epoch in range(2, ROUNDS + 2):
            (seen_one,) = (await one.load([SYMBOL])).values()
            (seen_two,) = (await two.load([SYMBOL])).values()
            assert seen_one == seen_two  # both read one version, then both write to it
            results = await asyncio.gather(
                one.put(SYMBOL, _record(epoch, "one"), seen_one.version),
                two.put(SYMBOL, _record(epoch, "two"), seen_two.version),
                return_exceptions=True,
            )
            won = [isinstance(r, str) for r in results]
            assert won.count(True) == 1, results
            loser = results[won.index(False)]
            assert isinstance(loser, StoreConflict), loser
            winner = ("one", "two")[won.index(True)]
            wins[winner] += 1
            (stored,) = (await one.load([SYMBOL])).values()
            assert stored.record == _record(epoch, winner)
            assert stored.version == results[won.index(True)]
        assert sum(wins.values()) == ROUNDS + 1  # no round lost and none won twice
        lease = plane.api.get(resource_path("coordination.k8s.io/v1", "leases", NAMESPACE,
                                            "race.btc-usd"))  # fmt: skip
        assert lease["spec"]["holderIdentity"] == stored.record.primary
    finally:
        await asyncio.gather(one.close(), two.close())


async def test_a_write_from_anyone_else_makes_the_old_version_stale(
    plane: ControlPlane, in_cluster: None
) -> None:
    store = KubernetesStore.in_cluster(NAMESPACE, "stale")
    try:
        version = await store.put(SYMBOL, _record(1, "e1"), None)
        # Someone else (here, the administrator with kubectl) edits the Lease.
        plane.kubectl("annotate", f"--namespace={NAMESPACE}", "lease/stale.btc-usd", "x=y")
        with pytest.raises(StoreConflict):
            await store.put(SYMBOL, _record(2, "e2"), version)
        (stored,) = (await store.load([SYMBOL])).values()
        assert stored.record == _record(1, "e1")  # the refused write changed nothing
        assert await store.put(SYMBOL, _record(2, "e2"), stored.version)
    finally:
        await store.close()


async def test_the_rendered_role_grants_only_its_namespace(
    plane: ControlPlane, in_cluster: None
) -> None:
    """RBAC is enforced: the same token cannot write Leases in another namespace."""
    store = KubernetesStore.in_cluster("default", "denied")
    try:
        with pytest.raises(StoreError, match="403"):
            await store.put(SYMBOL, _record(1, "e1"), None)
    finally:
        await store.close()
