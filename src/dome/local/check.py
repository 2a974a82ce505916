"""Do the replicas of every symbol agree? One comparison of a running cluster.

Replicas at the same sequence number must have the same ``state_hash`` (DESIGN.md
section 2); replicas at different ones are not comparable (one may just be behind), so
``run_check`` can poll until they all stand at one. ``dome check`` prints the result.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from dome.local.placement import fetch_placement
from dome.tls import TlsFiles, open_channel
from dome.v1 import replication_pb2 as rp
from dome.v1 import replication_pb2_grpc as rp_grpc

_ROLES = {
    rp.REPLICA_ROLE_PRIMARY: "primary",
    rp.REPLICA_ROLE_FOLLOWER: "follower",
    rp.REPLICA_ROLE_UNSPECIFIED: "none",
}
_POLL_S = 0.1


async def replica_status(
    address: str, rpc_timeout: float, tls: TlsFiles | None = None
) -> rp.GetReplicaStatusResponse | None:
    """One engine's replicas, or None when it cannot be reached."""
    try:
        async with open_channel(address, tls) as channel:
            stub = rp_grpc.ReplicationServiceStub(channel)
            return await stub.GetReplicaStatus(rp.GetReplicaStatusRequest(), timeout=rpc_timeout)
    except grpc.aio.AioRpcError:
        return None


def compare(
    placement: dict[str, Any], statuses: dict[str, rp.GetReplicaStatusResponse | None]
) -> dict[str, Any]:
    """The check's result from a placement and each engine's status (None: unreachable)."""
    symbols: dict[str, Any] = {}
    for symbol, placed in placement["symbols"].items():
        placed_ids = [e for e in dict.fromkeys([placed["primary"], *placed["followers"]]) if e]
        claiming = [
            engine
            for engine, status in statuses.items()
            if status is not None and any(_holds(r, symbol) for r in status.replicas)
        ]
        replicas = []
        for engine in [*placed_ids, *(e for e in sorted(claiming) if e not in placed_ids)]:
            status = statuses.get(engine)
            if status is None:
                role = "primary" if engine == placed["primary"] else "follower"
                replicas.append({"engine": engine, "reachable": False, "role": role})
                continue
            mine = next((r for r in status.replicas if r.symbol == symbol), None)
            replicas.append(_replica_json(engine, mine))
        symbols[symbol] = _verdict(replicas)
    return {
        "symbols": symbols,
        "consistent": all(s["consistent"] for s in symbols.values()),
        "converged": all(s["converged"] for s in symbols.values()),
    }


def _holds(replica: rp.ReplicaStatus, symbol: str) -> bool:
    return replica.symbol == symbol and replica.role != rp.REPLICA_ROLE_UNSPECIFIED


def _replica_json(engine: str, r: rp.ReplicaStatus | None) -> dict[str, Any]:
    if r is None:
        return {"engine": engine, "reachable": True, "role": "none", "epoch": 0, "seq": 0,
                "journaled_seq": 0, "committed_seq": 0, "state_hash": None}  # fmt: skip
    return {
        "engine": engine,
        "reachable": True,
        "role": _ROLES.get(r.role, "none"),
        "epoch": r.epoch,
        "seq": r.applied_seq,
        "journaled_seq": r.journaled_seq,
        "committed_seq": r.committed_seq,
        "state_hash": r.state_hash,
    }


def _verdict(replicas: list[dict[str, Any]]) -> dict[str, Any]:
    """Consistent: one hash per sequence number; converged: one sequence number."""
    hashes: dict[int, set[str]] = {}
    for r in replicas:
        if r["reachable"] and r["state_hash"] is not None:
            hashes.setdefault(r["seq"], set()).add(r["state_hash"])
    return {
        "replicas": replicas,
        "consistent": all(len(h) == 1 for h in hashes.values()),
        "converged": len(hashes) <= 1,
        "seq": max(hashes, default=0),
    }


async def run_check(
    discovery: str, *, rpc_timeout: float, wait: float = 0.0, tls: TlsFiles | None = None
) -> dict[str, Any]:
    """Check once, or poll up to ``wait`` seconds until every symbol has converged.

    Raises ``PlacementUnavailable`` when discovery does not answer.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        placement = await fetch_placement(discovery, rpc_timeout=rpc_timeout, tls=tls)
        engines = {e["id"]: e["address"] for e in placement["engines"]}
        answers = await asyncio.gather(
            *(replica_status(address, rpc_timeout, tls) for address in engines.values())
        )
        result = compare(placement, dict(zip(engines, answers, strict=True)))
        if not result["consistent"] or result["converged"] or loop.time() >= deadline:
            result["discovery"] = discovery
            return result
        await asyncio.sleep(_POLL_S)
