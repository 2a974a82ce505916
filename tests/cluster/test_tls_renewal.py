"""A renewed certificate is served without a restart; an unusable renewal changes nothing.

Discovery and two engines serve mutual TLS from one Secret-style volume (the kubelet's
``..data`` layout). The test flips the volume to a renewed certificate, as the kubelet
does after cert-manager renews the Secret, and asks every process over a raw TLS
handshake (Python's ``ssl``, no gRPC) which certificate a new connection gets: the
renewed serial, within a few polls. Trading through discovery still works for a client
trusting the CA, and the engines still replicate to each other (their channels present
the files in force). A volume flipped to garbage keeps the renewed certificate in force
and every process says so in its log.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
from certificates import SecretVolume, make_tls_dir, renew, serial, tls_files, unavailable
from cluster_harness import ACCOUNTS, Cluster, running_cluster, wait_for

from dome.client import Client
from dome.tls import TlsFiles

REASON = unavailable()
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(REASON is not None, reason=f"no certificates: {REASON}"),
]
SYMBOL = "AAA-USD"
#: Polls are 2 s apart: a renewal shows within one or two.
WITHIN = 15.0


def served_serial(address: str, client_dir: Path) -> int:
    """The serial of the certificate a new TLS connection to ``address`` is shown."""
    host, _, port = address.rpartition(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(client_dir / "ca.crt")
    context.load_cert_chain(client_dir / "tls.crt", client_dir / "tls.key")  # mutual TLS
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        certificate = tls.getpeercert()
    return int(str(certificate["serialNumber"]), 16)


def addresses(cluster: Cluster) -> list[str]:
    return [cluster.discovery_address, *(e.address for e in cluster.engines)]


def all_serve(cluster: Cluster, client_dir: Path, expected: int) -> bool:
    return all(served_serial(a, client_dir) == expected for a in addresses(cluster))


async def trade(cluster: Cluster, tls: TlsFiles, price: str) -> None:
    alice = Client(discovery=cluster.discovery_address, token=ACCOUNTS["alice"], tls=tls)
    bob = Client(discovery=cluster.discovery_address, token=ACCOUNTS["bob"], tls=tls)
    await alice.connect()
    await bob.connect()
    try:
        await alice.submit_order(SYMBOL, "sell", "2", price)
        fill = await bob.submit_order(SYMBOL, "buy", "2", price)
        assert [str(f.qty) for f in fill.fills] == ["2"]
    finally:
        await alice.close()
        await bob.close()


async def test_a_renewed_certificate_is_served_to_new_connections(tmp_path: Path) -> None:
    first = make_tls_dir(tmp_path / "first")
    renewed = renew(first, tmp_path / "renewed")
    assert serial(first / "tls.crt") != serial(renewed / "tls.crt")
    # The test's own clients keep the first certificate: same CA, still valid.
    client = TlsFiles.from_dir(first)
    volume = SecretVolume(tmp_path / "volume", tls_files(first))
    with running_cluster(
        tmp_path / "cluster", 2, symbols=(SYMBOL,), tls_dir=volume.root
    ) as cluster:
        assert all_serve(cluster, first, serial(first / "tls.crt"))
        await trade(cluster, client, "100.00")

        volume.project(tls_files(renewed))
        wait_for(
            lambda: all_serve(cluster, first, serial(renewed / "tls.crt")),
            WITHIN,
            "every process serves the renewed certificate",
        )
        await trade(cluster, client, "101.00")
        hashes = wait_for(lambda: cluster.converged(SYMBOL), 10, "replicas converged")
        assert len(set(hashes.values())) == 1

        garbage = {**tls_files(renewed), "tls.crt": b"-----BEGIN CERTIFICATE-----\ngarbage\n"}
        volume.project(garbage)
        complaint = "TLS files changed but are unusable"
        wait_for(
            lambda: all(complaint in p.log() for p in [cluster.discovery, *cluster.engines]),
            WITHIN,
            "every process refused the garbage",
        )
        assert all_serve(cluster, first, serial(renewed / "tls.crt"))
        await trade(cluster, client, "102.00")
