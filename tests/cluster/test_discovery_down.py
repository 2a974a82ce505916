"""Discovery down: engines stop taking writes within a lease and say so, never hang.

Leases are what make two writers impossible: an engine that cannot renew its lease must
stop acknowledging before discovery could promote anyone else. Clients must then get a
clear UNAVAILABLE within a deadline; reads keep working.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from cluster_harness import ACCOUNTS, running_cluster, wait_for
from cluster_load import order_request

from dome.v1 import market_data_pb2 as md
from dome.v1 import market_data_pb2_grpc as md_grpc
from dome.v1 import trading_pb2_grpc as tr_grpc

pytestmark = pytest.mark.timeout(120)


def test_writes_stop_with_unavailable_when_discovery_is_gone(tmp_path: Path) -> None:
    symbol = "AAA-USD"
    with running_cluster(tmp_path, 3, symbols=(symbol,)) as cluster:
        primary = cluster.primary(symbol)
        channel = cluster.channel(cluster.address_of(primary))
        stub = tr_grpc.TradingServiceStub(channel)
        metadata = (("authorization", f"Bearer {ACCOUNTS['alice']}"),)
        assert stub.SubmitOrder(order_request(symbol, "before", 0), metadata=metadata).order_id
        cluster.discovery.kill()
        killed = time.monotonic()

        def refused() -> grpc.RpcError | None:
            try:
                stub.SubmitOrder(
                    order_request(symbol, f"after-{time.monotonic()}", 1),
                    metadata=metadata,
                    timeout=5,
                )
            except grpc.RpcError as exc:
                return exc
            return None

        error = wait_for(refused, 5, "the primary to refuse writes")
        took = time.monotonic() - killed
        assert error.code() == grpc.StatusCode.UNAVAILABLE, error  # type: ignore[attr-defined]
        assert "lease" in (error.details() or ""), error.details()  # type: ignore[attr-defined]
        print(f"writes refused {took:.2f}s after discovery died")
        # Reads are served from the engine's own state.
        book = md_grpc.MarketDataServiceStub(channel).GetBook(
            md.GetBookRequest(symbol=symbol), timeout=5
        )
        assert book.seq >= 1
