"""The router's reading of a placement: primaries, replicas in preference order, changes."""

from __future__ import annotations

import asyncio

import pytest

from dome.client import Client
from dome.client.routing import Router
from dome.v1 import discovery_pb2 as disc


def placement(primary: str, followers: list[str], dead: tuple[str, ...] = ()) -> disc.Placement:
    return disc.Placement(
        symbols=[disc.SymbolPlacement(symbol="XYZ", epoch=3, primary=primary, followers=followers)],
        engines=[
            disc.EngineInfo(engine_id=i, address=f"{i}:1", alive=i not in dead)
            for i in ("a", "b", "c")
        ],
    )


async def test_primary_and_replicas_follow_the_placement() -> None:
    router = Router("127.0.0.1:1", "me")
    router.apply(placement("a", ["b", "c"], dead=("b",)))
    assert router.primary("XYZ") == "a:1"
    assert router.replicas("XYZ") == ["a:1", "c:1", "b:1"]  # the dead one last
    router.apply(placement("", ["b", "c"]))
    assert router.primary("XYZ") is None  # election open
    assert router.primary("NOPE") is None
    await router.close()


async def test_waiting_for_a_change_wakes_on_the_next_placement() -> None:
    router = Router("127.0.0.1:1", "me")
    seen = router.version
    waiter = asyncio.create_task(router.wait_for_change(seen, 5))
    await asyncio.sleep(0)
    assert not waiter.done()
    router.apply(placement("c", []))
    await asyncio.wait_for(waiter, 1)
    assert router.version == seen + 1
    await router.close()


def test_a_client_needs_exactly_one_of_target_or_discovery() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Client()
    with pytest.raises(ValueError, match="exactly one"):
        Client("127.0.0.1:1", discovery="127.0.0.1:2")
