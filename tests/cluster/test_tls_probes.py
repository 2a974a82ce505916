"""A TLS exchange's processes answer the kubelet's probes, and readiness means in sync.

With ``--tls-dir`` the service ports take only mutual TLS, which a kubelet gRPC probe
(plaintext, no client certificate) cannot speak: probed there, a TLS exchange would
never start. Each process therefore serves the standard health service on a plaintext
``--health-port`` (``dome.health``), probed here exactly as the kubelet probes it:
plaintext, no certificate, the rendered probe's service name ("" for startup and
liveness, ``readiness`` for readiness).

Readiness is not "the process serves": discovery is ready once it has placed every
symbol, an engine once it holds every replica it was given in sync. The second test
keeps placement from happening (discovery waits for two engines, with a long startup
grace, and only one runs) and sees both processes live but not ready; the second engine
then arrives and both turn ready.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import grpc
import pytest
from certificates import make_tls_dir, unavailable
from cluster_harness import Cluster, running_cluster
from grpc_health.v1 import health_pb2, health_pb2_grpc

from waiting import wait_for

REASON = unavailable()
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(REASON is not None, reason=f"no certificates: {REASON}"),
]
SYMBOLS = ("AAA-USD", "BBB-USD")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def ready(address: str) -> bool:
    return probe(address, "readiness") == SERVING


def probe(address: str, service: str) -> int | None:
    """The kubelet's gRPC probe: plaintext, no certificate; the status, None if no answer."""
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=3
            )
        except grpc.RpcError:
            return None
    return int(reply.status)


def test_every_process_of_a_tls_exchange_answers_its_probes(tmp_path: Path) -> None:
    tls_dir = make_tls_dir(tmp_path / "tls")
    with running_cluster(
        tmp_path / "cluster", 3, symbols=SYMBOLS, tls_dir=tls_dir, health_ports=True
    ) as cluster:
        for proc in [cluster.discovery, *cluster.engines]:
            health = str(proc.info["health"])
            assert health, f"{proc.name} announces no health port"
            assert probe(health, "") == SERVING, proc.name
            wait_for(partial(ready, health), 20, f"{proc.name} ready")
            # Why the health port exists: the service port refuses the kubelet's probe.
            assert probe(proc.address, "") is None, f"{proc.name} answered plaintext on TLS"


def test_ready_only_once_placed_and_in_sync(tmp_path: Path) -> None:
    tls_dir = make_tls_dir(tmp_path / "tls")
    cluster = Cluster(
        tmp_path / "cluster",
        2,
        symbols=SYMBOLS,
        tls_dir=tls_dir,
        health_ports=True,
        discovery_args=("--startup-grace", "600"),
    )
    try:
        cluster.discovery.start()
        for engine in cluster.engines:
            engine.args[engine.args.index("DISCOVERY")] = cluster.discovery.address
        first, second = cluster.engines
        first.start()
        discovery_health = str(cluster.discovery.info["health"])
        first_health = str(first.info["health"])
        # Registered and serving, but discovery waits for the second engine: nothing is
        # placed, so neither may take traffic yet.
        for address in (discovery_health, first_health):
            assert probe(address, "") == SERVING
            assert probe(address, "readiness") == NOT_SERVING
        second.start()
        for address in (discovery_health, first_health, str(second.info["health"])):
            wait_for(partial(ready, address), 20, f"{address} ready")
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
