"""Cancel on disconnect against a real engine: a client process killed with -9.

The client opts in (``Client.cancel_on_disconnect``), rests orders and is killed; the
engine cancels its orders once the grace period has passed. A client that did not opt
in, killed at the same moment, keeps its orders: the cancels are the session's doing.
"""

from __future__ import annotations

import grpc
import pytest
from engine_harness import EngineProcess

import cod_client
from dome.client import Client
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc
from waiting import eventually

pytestmark = pytest.mark.timeout(120)


async def test_a_killed_client_with_cod_loses_its_orders(engine: EngineProcess) -> None:
    sym = engine.symbol()
    target = ("--target", engine.address, "--symbol", sym)
    bob, bob_ids = cod_client.start(*target, "--token", engine.accounts["bob"], "--cod")
    carol, carol_ids = cod_client.start(*target, "--token", engine.accounts["carol"])
    async with (
        Client(engine.address, engine.accounts["bob"]) as bob_view,
        Client(engine.address, engine.accounts["carol"]) as carol_view,
    ):
        assert sorted(o.order_id for o in await bob_view.open_orders(sym)) == bob_ids
        bob.kill()
        carol.kill()
        bob.wait()
        carol.wait()

        async def bob_flat() -> bool:
            return not await bob_view.open_orders(sym)

        await eventually(bob_flat, 15, "bob's orders cancelled on disconnect")
        assert sorted(o.order_id for o in await carol_view.open_orders(sym)) == carol_ids
        history = await bob_view.history_page(sym)
        assert sorted(r.order_id for r in history.reports if r.cancelled_qty) == bob_ids
    assert "cancelled on disconnect" in engine.log()


async def test_a_bad_session_id_is_invalid(engine: EngineProcess) -> None:
    async with grpc.aio.insecure_channel(engine.address) as channel:
        stub = tr_grpc.TradingServiceStub(channel)
        call = stub.OpenSession(
            tr.OpenSessionRequest(session_id="", cancel_on_disconnect=True),
            metadata=engine.auth("alice"),
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in call:
                pass  # pragma: no cover
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
