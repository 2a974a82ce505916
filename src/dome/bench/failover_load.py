"""The load process of ``dome bench failover``: steady orders on every symbol, every ack reported.

``dome.bench.failover`` starts it (``python -m dome.bench.failover_load``) beside the
cluster and reads its lines. Per symbol a buyer and a seller each keep one order in
flight, paced to ``rate`` orders/s per symbol. It routes as the SDK does (the SDK's
``Router`` follows discovery's placement) and retries as the SDK does: on UNAVAILABLE,
FAILED_PRECONDITION or DEADLINE_EXCEEDED the same request, with the same client order
id, goes again to whichever engine placement then names, after the next placement or a
short pause (``RETRY_PAUSE_S``, kept short so the measured takeover is the cluster's
and not a client backoff's). It reports every acknowledgement as it happens: when, and
which engine answered, which the SDK's ``Client`` would not say.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
from decimal import Decimal
from typing import Any

import grpc

from dome.client.routing import Router
from dome.instrument_spec import InstrumentSpec, format_decimal
from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc

#: The load's retries: per attempt, in all, and between attempts that fail.
ATTEMPT_TIMEOUT_S = 2.0
RETRY_DEADLINE_S = 30.0
RETRY_PAUSE_S = 0.02
#: How long a worker waits for a placement change while its symbol has no primary.
NO_PRIMARY_WAIT_S = 0.1
#: How long the load may take to come up, and to finish its orders in flight once stopped.
LOAD_DEADLINE_S = 60.0
SIDES = ("buy", "sell")
RETRY_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)


def order_fields(
    spec: InstrumentSpec, index: int, side: str, n: int
) -> tuple[str, Decimal, Decimal]:
    """Client order id, price and quantity of order ``n`` of ``side`` on symbol ``index``.

    Both sides quote within 5 ticks of 100, so some orders trade and some rest.
    """
    offset = (n * 7) % 11 - 5
    price = Decimal(100) + spec.tick_size * offset
    qty = spec.lot_size * (1 + n % 5)
    return f"fo-{index}-{side}-{n}", price, qty


async def load_main() -> int:
    """The load: one config line in, ``{"ready": true}``, ack lines, ``{"errors"}`` at the end.

    An ack line is ``A SYMBOL_INDEX SIDE N ORDER_ID MONOTONIC ADDRESS ATTEMPTS DUPLICATE``.
    A line ``stop`` (or end of input) stops new orders; those in flight are finished.
    """
    config = json.loads(sys.stdin.readline())
    specs = [InstrumentSpec.from_dict(d) for d in config["symbols"]]
    loop = asyncio.get_running_loop()
    router = Router(config["discovery"], f"bench-failover-{secrets.token_hex(3)}")
    await router.start(loop.time() + LOAD_DEADLINE_S)
    stop = asyncio.Event()
    errors: list[str] = []
    interval = 2 / config["rate"]  # two workers per symbol, each with one order in flight

    async def worker(index: int, side: str) -> None:
        spec = specs[index]
        metadata = (("authorization", f"Bearer {config['tokens'][f'failover-{side}']}"),)
        due = time.monotonic()
        n = 0
        while not stop.is_set():
            coid, price, qty = order_fields(spec, index, side, n)
            request = tr.SubmitOrderRequest(
                symbol=spec.symbol,
                side=pb.SIDE_BUY if side == "buy" else pb.SIDE_SELL,
                type=pb.ORDER_TYPE_LIMIT,
                price=format_decimal(price),
                qty=format_decimal(qty),
                client_order_id=coid,
            )
            try:
                answer, address, attempts = await submit(router, request, metadata)
            except grpc.aio.AioRpcError as exc:
                errors.append(f"{coid}: {exc.code().name} {exc.details()}")
            except TimeoutError as exc:
                errors.append(f"{coid}: {exc}")
            else:
                print(f"A {index} {side} {n} {answer.order_id} {time.monotonic():.6f} {address} "
                      f"{attempts} {int(answer.duplicate)}", flush=True)  # fmt: skip
            n += 1
            # Steady pace; after a stall, carry on at the pace rather than catch up.
            due = max(due + interval, time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), due - time.monotonic())

    tasks = [asyncio.create_task(worker(i, side)) for i in range(len(specs)) for side in SIDES]
    print(json.dumps({"ready": True}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    stop.set()
    await asyncio.gather(*tasks)
    await router.close()
    print(json.dumps({"errors": errors}), flush=True)
    return 0


async def submit(
    router: Router, request: tr.SubmitOrderRequest, metadata: Any
) -> tuple[tr.OrderResult, str, int]:
    """``request`` to its symbol's primary until acknowledged: the answer, who, attempts."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + RETRY_DEADLINE_S
    attempts = 0
    while True:
        seen = router.version
        address = router.primary(request.symbol)
        if address is not None:
            attempts += 1
            stub = tr_grpc.TradingServiceStub(router.channel(address))
            try:
                answer = await stub.SubmitOrder(
                    request, metadata=metadata, timeout=ATTEMPT_TIMEOUT_S
                )
                return answer, address, attempts
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRY_CODES or loop.time() > give_up:
                    raise
        elif loop.time() > give_up:
            raise TimeoutError(f"{request.symbol}: no primary within {RETRY_DEADLINE_S:g}s")
        await router.wait_for_change(seen, RETRY_PAUSE_S if address else NO_PRIMARY_WAIT_S)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(load_main()))
