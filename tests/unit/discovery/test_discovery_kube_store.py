"""KubernetesStore against a small real HTTP server that keeps Leases like the API server
(``lease_server``: 409 on a stale ``metadata.resourceVersion`` and on creating what exists).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from lease_server import LeaseServer

from dome.discovery.kube_store import ANNOTATION, KubernetesStore, lease_name, legacy_lease_name
from dome.discovery.records import SymbolRecord
from dome.discovery.store import StoreConflict, StoreError

RECORD = SymbolRecord(1, "e0", ("e1",), ("e0", "e1"))


async def test_leases_hold_the_record_and_refuse_stale_writes(
    api: tuple[LeaseServer, str], tmp_path: Any
) -> None:
    server, url = api
    token = tmp_path / "token"
    token.write_text("secret-1\n")
    store = KubernetesStore("ns1", "demo", url, token_file=token)
    try:
        assert await store.load(["BTC-USD"]) == {}
        v1 = await store.put("BTC-USD", RECORD, None)
        lease = server.leases["ns1", "demo.btc-usd"]
        assert lease["spec"]["holderIdentity"] == "e0"
        assert json.loads(lease["metadata"]["annotations"][ANNOTATION])["epoch"] == 1
        with pytest.raises(StoreConflict):
            await store.put("BTC-USD", RECORD, None)
        election = SymbolRecord(2, "", ("e0", "e1"), ("e0", "e1"))
        v2 = await store.put("BTC-USD", election, v1)
        # No holder: the official client leaves a null field out (as the API server
        # stores it) rather than sending it as null.
        assert server.leases["ns1", "demo.btc-usd"]["spec"].get("holderIdentity") is None
        with pytest.raises(StoreConflict):
            await store.put("BTC-USD", RECORD, v1)
        token.write_text("secret-2\n")  # rotated: the next call must use the new one
        loaded = await store.load(["BTC-USD", "ETH-USD"])
        assert list(loaded) == ["BTC-USD"]
        assert loaded["BTC-USD"].record == election
        assert loaded["BTC-USD"].version == v2
        assert server.tokens[-1] == "Bearer secret-2"
    finally:
        await store.close()


async def test_two_stores_racing_on_one_lease_never_both_win(
    api: tuple[LeaseServer, str],
) -> None:
    _, url = api
    stores = [KubernetesStore("ns1", "demo", url) for _ in range(6)]
    try:
        base = await stores[0].put("XYZ", RECORD, None)
        results = await asyncio.gather(
            *(s.put("XYZ", SymbolRecord(2, "", ("e0", "e1"), (f"r{i}",)), base)
              for i, s in enumerate(stores)),
            return_exceptions=True,
        )  # fmt: skip
        assert sum(isinstance(r, str) for r in results) == 1, results
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_an_unreachable_api_is_a_store_error() -> None:
    store = KubernetesStore("ns1", "demo", "http://127.0.0.1:1", timeout=1.0)
    try:
        with pytest.raises(StoreError):
            await store.load(["A"])
    finally:
        await store.close()


def test_lease_names_are_valid_and_collisions_are_refused() -> None:
    assert lease_name("ex", "BTC-USD") == "ex.btc-usd"
    with pytest.raises(StoreError):
        KubernetesStore("ns", "ex", "http://x").check_names(["A.B", "A-B"])


def test_lease_names_of_two_exchanges_never_collide() -> None:
    # The former scheme gave both demo-x-y.
    assert lease_name("demo", "X-Y") == "demo.x-y"
    assert lease_name("demo-x", "Y") == "demo-x.y"
    assert legacy_lease_name("demo", "X-Y") == legacy_lease_name("demo-x", "Y")


async def test_a_lease_under_the_former_name_is_carried_over_with_its_record(
    api: tuple[LeaseServer, str],
) -> None:
    server, url = api
    # What a discovery before the rename wrote: demo's X-Y, and demo-x's Y, both at
    # demo-x-y (the second overwrote the first: the collision this fixes).
    legacy = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": "demo-x-y",
            "namespace": "ns1",
            "resourceVersion": "1",
            "annotations": {ANNOTATION: json.dumps({"symbol": "Y", **RECORD.to_json()})},
        },
        "spec": {"holderIdentity": "e0"},
    }
    server.leases["ns1", "demo-x-y"] = legacy
    mine = KubernetesStore("ns1", "demo-x", url)
    theirs = KubernetesStore("ns1", "demo", url)
    try:
        carried = await mine.load(["Y"])
        assert carried["Y"].record == RECORD
        assert ("ns1", "demo-x.y") in server.leases
        # Written under the new name: a compare-and-set on the version load gave works.
        await mine.put("Y", SymbolRecord(2, "e1", ("e0",), ("e1", "e0")), carried["Y"].version)
        # demo's X-Y is not demo-x's Y: the former Lease's record names another symbol.
        assert await theirs.load(["X-Y"]) == {}
    finally:
        await mine.close()
        await theirs.close()


async def test_leases_are_owned_by_the_exchange_when_told_its_uid(
    api: tuple[LeaseServer, str],
) -> None:
    server, url = api
    owned = KubernetesStore("ns1", "demo", url, owner_uid="uid-1")
    unowned = KubernetesStore("ns1", "other", url)
    try:
        version = await owned.put("BTC-USD", RECORD, None)
        await owned.put("BTC-USD", SymbolRecord(2, "e1", ("e0",), ("e1", "e0")), version)
        await unowned.put("BTC-USD", RECORD, None)
    finally:
        await owned.close()
        await unowned.close()
    (owner,) = server.leases["ns1", "demo.btc-usd"]["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "dome.dev/v1alpha1",
        "kind": "Exchange",
        "name": "demo",
        "uid": "uid-1",
    }
    assert not server.leases["ns1", "other.btc-usd"]["metadata"].get("ownerReferences")
