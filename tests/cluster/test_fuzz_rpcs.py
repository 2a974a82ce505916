"""Every RPC of the engine and of discovery, fed hostile bytes: typed answers, no crash.

Payloads come from ``wire_fuzz`` (random bytes, boundary-filled messages, truncated and
bit-flipped ones, invalid UTF-8), sent as raw bytes so that nothing on our side parses
them first, with a valid bearer token, a wrong one, none, and the cluster's peer secret
(so the peer-only RPCs' parsers are reached too, past peer authentication). What must
hold: no answer is INTERNAL or UNKNOWN, every process is still serving afterwards, no
handler logged an unexpected exception, and the books' state hashes are what they were
(nothing the fuzz sent named a traded symbol, so every request was refused or read-only).

``DOME_FUZZ_COUNT`` sets the number of payloads (``make fuzz`` runs 10,000; the default
run 2,000).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from cluster_harness import ACCOUNTS, Proc, running_cluster, wait_for
from wire_fuzz import DISCOVERY_SERVICES, ENGINE_SERVICES, Rpc, payloads, rpcs

COUNT = int(os.environ.get("DOME_FUZZ_COUNT", "2000"))
SEED = int(os.environ.get("DOME_FUZZ_SEED", "20261202"))
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
SYMBOLS = ("AAA-USD", "BBB-USD")

pytestmark = pytest.mark.timeout(600)


def _identity(data: bytes) -> bytes:
    return data


def _metadata(rng: random.Random, peer: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    pick = rng.randrange(4)
    if pick == 3:
        return peer
    if pick == 0:
        return (("authorization", f"Bearer {ACCOUNTS['alice']}"),)
    if pick == 1:
        return (("authorization", "Bearer not-a-token"),)
    return ()


def _call(channel: grpc.Channel, rpc: Rpc, data: list[bytes], metadata: object) -> str:
    """The status code name the call ended with (``OK`` for a normal end)."""
    timeout = 0.5
    try:
        if not rpc.client_streaming and not rpc.server_streaming:
            channel.unary_unary(rpc.path, _identity, _identity)(
                data[0], metadata=metadata, timeout=timeout
            )
        elif not rpc.client_streaming:
            stream = channel.unary_stream(rpc.path, _identity, _identity)(
                data[0], metadata=metadata, timeout=timeout
            )
            for i, _ in enumerate(stream):
                if i >= 3:
                    stream.cancel()
                    break
        else:
            method = (
                channel.stream_stream(rpc.path, _identity, _identity)
                if rpc.server_streaming
                else channel.stream_unary(rpc.path, _identity, _identity)
            )
            result = method(iter(data), metadata=metadata, timeout=timeout)
            if rpc.server_streaming:
                for i, _ in enumerate(result):
                    if i >= 3:
                        result.cancel()
                        break
    except grpc.RpcError as exc:
        return exc.code().name  # type: ignore[attr-defined, no-any-return]
    return "OK"


def _fuzz(
    address: str, methods: list[Rpc], count: int, peer: tuple[tuple[str, str], ...]
) -> tuple[Counter[str], list[str]]:
    channel = grpc.insecure_channel(address)
    rng = random.Random(SEED)
    jobs = []
    per_method = max(1, count // len(methods))
    for rpc in methods:
        stream = payloads(SEED, rpc, per_method * 3)
        for n in range(per_method):
            data = [next(stream) for _ in range(rng.randrange(1, 4) if rpc.client_streaming else 1)]
            jobs.append((rpc, n, data, _metadata(rng, peer)))
    codes: Counter[str] = Counter()
    bad: list[str] = []
    with ThreadPoolExecutor(16) as pool:
        results = pool.map(lambda job: (job, _call(channel, job[0], job[2], job[3])), jobs)
        for (rpc, n, data, _), code in results:
            codes[code] += 1
            if code in {c.name for c in FORBIDDEN}:
                bad.append(f"{rpc.path} payload {n} (seed {SEED}): {code} for {data[0][:60]!r}")
    channel.close()
    return codes, bad


def _hashes(cluster: object) -> dict[str, str]:
    status = cluster.status("engine-0")  # type: ignore[attr-defined]
    assert status, "engine-0 did not answer GetReplicaStatus"
    return {s: status[s].state_hash for s in SYMBOLS}


def test_every_rpc_answers_hostile_bytes_with_a_typed_status(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "exchange", 1, symbols=SYMBOLS) as cluster:
        # A second discovery of its own: a registration that parses is a real one, and
        # this test is about bytes, not about who may register (peer authentication).
        args = list(cluster.discovery.args)
        args[args.index("--data-dir") + 1] = str(tmp_path / "fuzzed")
        args[args.index("--ready-file") + 1] = str(tmp_path / "fuzzed.ready")
        other = Proc("discovery-fuzzed", args, tmp_path / "fuzzed.log", tmp_path / "fuzzed.ready")
        other.start()
        try:
            before = _hashes(cluster)
            engine = cluster.engines[0]
            peer = cluster.peer.metadata
            codes, bad = _fuzz(engine.address, rpcs(ENGINE_SERVICES), COUNT * 3 // 4, peer)
            more, worse = _fuzz(other.address, rpcs(DISCOVERY_SERVICES), COUNT // 4, peer)
            codes.update(more)
            print(f"{sum(codes.values())} hostile calls: {dict(codes)}")
            assert not bad + worse, (bad + worse)[:10]
            assert sum(codes.values()) >= COUNT * 0.9
            assert codes["INVALID_ARGUMENT"] > 0, codes  # the parse guard was reached
            assert engine.alive()
            assert cluster.discovery.alive()
            assert other.alive()
            # Still serving, with the books as they were.
            assert wait_for(lambda: cluster.converged(SYMBOLS[0]), 10, "engine answering")
            assert _hashes(cluster) == before
            for proc in (engine, other):
                assert "handler failed" not in proc.log(), proc.log()[-3000:]
        finally:
            other.stop()
