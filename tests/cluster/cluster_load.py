"""Order flow for fault tests: keeps placing orders, retries like the SDK, remembers acks.

Each order has a unique client order id. A call that fails with UNAVAILABLE,
FAILED_PRECONDITION or DEADLINE_EXCEEDED is retried with the *same* id, against
whichever engine placement then names, until it is acknowledged; so after any failover
an acknowledged id must still be known to the cluster, with the same order id, and an
id must never have made two orders. ``verify`` checks exactly that through the public
API: resubmitting every acknowledged id must come back as a duplicate of the original.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from cluster_harness import ACCOUNTS, Cluster, wait_for

from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc

RETRY = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}


def order_request(symbol: str, coid: str, n: int) -> tr.SubmitOrderRequest:
    """Alternating buys and sells around 100.00 so some trade and some rest."""
    side = pb.SIDE_BUY if n % 2 == 0 else pb.SIDE_SELL
    offset = (n * 7) % 11 - 5  # -5..5 ticks of 0.10 around 100.00
    price = f"{100 + offset / 10:.2f}"
    return tr.SubmitOrderRequest(
        symbol=symbol,
        side=side,
        type=pb.ORDER_TYPE_LIMIT,
        price=price,
        qty=str(1 + n % 5),
        client_order_id=coid,
    )


def submit_with_retry(
    cluster: Cluster, request: tr.SubmitOrderRequest, account: str = "alice", deadline: float = 15.0
) -> tr.OrderResult:
    """Submit to the symbol's primary, retrying with the same request until acknowledged."""
    return submit_to_primary(cluster, request, account, deadline)[0]


def submit_to_primary(
    cluster: Cluster, request: tr.SubmitOrderRequest, account: str = "alice", deadline: float = 15.0
) -> tuple[tr.OrderResult, str]:
    """``submit_with_retry``, also saying which engine (by id) acknowledged."""
    metadata = (("authorization", f"Bearer {ACCOUNTS[account]}"),)
    give_up = time.monotonic() + deadline
    while True:
        try:
            primary = cluster.primary(request.symbol)
            target = cluster.address_of(primary) if primary else cluster.engines[0].address
            stub = tr_grpc.TradingServiceStub(cluster.channel(target))
            result = stub.SubmitOrder(request, metadata=metadata, timeout=2.0)
            return result, primary
        except grpc.RpcError as exc:
            if exc.code() not in RETRY or time.monotonic() > give_up:  # type: ignore[attr-defined]
                raise
        except AssertionError:
            # The killed engine has no address any more until it restarts.
            if time.monotonic() > give_up:
                raise
        time.sleep(0.02)


@dataclass
class Load:
    """A thread placing orders on one symbol until stopped."""

    cluster: Cluster
    symbol: str
    prefix: str
    acked: dict[str, tuple[int, float]] = field(default_factory=dict)
    #: Which engine acknowledged each id (the one the call was sent to).
    acked_by: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    sent: int = 0

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            coid = f"{self.prefix}-{n}"
            try:
                result, engine = submit_to_primary(
                    self.cluster, order_request(self.symbol, coid, n)
                )
            except Exception as exc:  # recorded; the test asserts there are none
                self.errors.append(f"{coid}: {exc!r}")
                return
            if result.status == pb.ORDER_STATUS_REJECTED:
                self.errors.append(f"{coid}: rejected {result.reject_reason}")
            self.acked[coid] = (result.order_id, time.monotonic())
            self.acked_by[coid] = engine
            n += 1
            self.sent = n

    def acks_after(self, moment: float, not_by: str = "") -> int:
        """Acknowledgements received after ``moment`` (from engines other than ``not_by``).

        An answer the killed engine sent just before dying can arrive after the kill:
        ``not_by`` leaves such answers out.
        """
        return len(self.acks_since(moment, not_by))

    def acks_since(self, moment: float, not_by: str = "") -> list[float]:
        """Times of the acknowledgements counted by ``acks_after``."""
        return [
            at
            for coid, (_, at) in list(self.acked.items())
            if at > moment and self.acked_by.get(coid) != not_by
        ]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def verify(self) -> None:
        """Every acknowledged id is known, with its original order id, exactly once."""
        assert not self.errors, self.errors[:5]
        for coid, (order_id, _) in sorted(self.acked.items()):
            # A true retry: the very order first sent under the id (another order under
            # it is refused, CLIENT_ORDER_ID_REUSED).
            n = int(coid.rsplit("-", 1)[1])
            again = submit_with_retry(self.cluster, order_request(self.symbol, coid, n))
            assert again.duplicate, f"{coid} acknowledged as order {order_id} but unknown now"
            assert again.order_id == order_id, (
                f"{coid}: acknowledged as order {order_id}, the cluster now says {again.order_id}"
            )


def kill_primaries_until(
    cluster: Cluster, load: Load, symbol: str, done: Callable[[list[str]], bool], rounds: int = 6
) -> list[str]:
    """Kill ``symbol``'s primary under ``load`` until ``done(took_over)`` holds.

    ``took_over`` lists the engine that led after each kill, in order. Every round waits
    for orders to be acknowledged by the new primary, restarts the killed engine and
    waits until it is back in sync, so the next kill cannot lose the only copy.
    """
    took_over: list[str] = []
    for attempt in range(rounds):
        wait_for(lambda: load.sent > 50, 30, "orders flowing")
        old = cluster.primary(symbol)
        if attempt:
            took_over.append(old)
        if done(took_over):
            break
        killed_at = time.monotonic()
        cluster.engine(old).kill()
        wait_for(
            lambda at=killed_at, o=old: load.acks_after(at, o) > 20,  # type: ignore[misc]
            15,
            f"acks after killing {old}",
        )
        cluster.engine(old).start()
        wait_for(
            lambda e=old: e in cluster.symbol_placement(symbol).in_sync,  # type: ignore[misc]
            30,
            f"{old} in sync again",
        )
    return took_over
