"""Mutual TLS on every hop: discovery, replication between engines, and clients.

The cluster runs with ``--tls-dir`` everywhere; it must form (engines register with
discovery and replicate to each other over mTLS), an SDK client with the certificate
must trade through discovery, and clients without TLS or without a client certificate
must be refused. Bearer tokens still name the account.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import grpc
import pytest
from certificates import make_tls_dir, unavailable
from cluster_harness import ACCOUNTS, DOME, running_cluster, wait_for
from cluster_load import order_request

from dome.client import Client
from dome.tls import TlsFiles
from dome.v1 import trading_pb2_grpc as tr_grpc

REASON = unavailable()
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(REASON is not None, reason=f"no certificates: {REASON}"),
]
SYMBOL = "AAA-USD"


def _dome(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOME, *args], capture_output=True, text=True, timeout=30, check=False)


async def test_a_cluster_on_mutual_tls_trades_and_refuses_plaintext(tmp_path: Path) -> None:
    tls_dir = make_tls_dir(tmp_path / "tls")
    with running_cluster(tmp_path / "cluster", 3, symbols=(SYMBOL,), tls_dir=tls_dir) as cluster:
        # Formed: replication between engines works over mTLS.
        tls = TlsFiles.from_dir(tls_dir)
        alice = Client(discovery=cluster.discovery_address, token=ACCOUNTS["alice"], tls=tls)
        bob = Client(discovery=cluster.discovery_address, token=ACCOUNTS["bob"], tls=tls)
        await alice.connect()
        await bob.connect()
        await alice.submit_order(SYMBOL, "sell", "3", "100.00")
        fill = await bob.submit_order(SYMBOL, "buy", "2", "100.00")
        assert [str(f.qty) for f in fill.fills] == ["2"]
        await alice.close()
        await bob.close()
        hashes = wait_for(lambda: cluster.converged(SYMBOL), 10, "replicas converged")
        assert len(set(hashes.values())) == 1

        primary = cluster.address_of(cluster.primary(SYMBOL))
        metadata = (("authorization", f"Bearer {ACCOUNTS['alice']}"),)
        plaintext = tr_grpc.TradingServiceStub(grpc.insecure_channel(primary))
        with pytest.raises(grpc.RpcError) as refused:
            plaintext.SubmitOrder(order_request(SYMBOL, "plain", 0), metadata=metadata, timeout=3)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]

        # The CLI speaks TLS too.
        placed = _dome("placement", "--discovery", cluster.discovery_address, "--json",
                       "--tls-dir", str(tls_dir))  # fmt: skip
        assert placed.returncode == 0, placed.stderr
        assert json.loads(placed.stdout)["symbols"][SYMBOL]["primary"]
        ordered = _dome("order", "--target", primary, "--token", ACCOUNTS["alice"], "--symbol",
                        SYMBOL, "--side", "buy", "--type", "limit", "--qty", "1", "--price",
                        "99", "--json", "--tls-dir", str(tls_dir))  # fmt: skip
        assert ordered.returncode == 0, ordered.stderr
        assert json.loads(ordered.stdout)["status"] == "new"
        plain = _dome("placement", "--discovery", cluster.discovery_address, "--json",
                      "--timeout", "2")  # fmt: skip
        assert plain.returncode == 1, plain.stdout

        # TLS, but no client certificate: mutual TLS refuses the handshake.
        anonymous = grpc.secure_channel(
            primary, grpc.ssl_channel_credentials((tls_dir / "ca.crt").read_bytes())
        )
        with pytest.raises(grpc.RpcError) as refused:
            tr_grpc.TradingServiceStub(anonymous).SubmitOrder(
                order_request(SYMBOL, "anonymous", 0), metadata=metadata, timeout=3
            )
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
