"""A running cluster's placement, read from discovery as plain data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc

from dome.tls import TlsFiles, open_channel, open_sync_channel
from dome.v1 import discovery_pb2 as dp
from dome.v1 import discovery_pb2_grpc as dp_grpc


class PlacementUnavailable(Exception):
    """Discovery could not be reached or answered with an error."""


def discovery_from_cluster(data_dir: str | Path) -> str | None:
    """Discovery's address in ``DATA_DIR/cluster.json``, None without one."""
    try:
        processes = json.loads((Path(data_dir) / "cluster.json").read_text())["processes"]
        return next(str(p["address"]) for p in processes if p.get("role") == "discovery")
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None


def placement_json(placement: dp.Placement) -> dict[str, Any]:
    """The placement as plain data: ``{"symbols": {...}, "engines": [...], ...}``."""
    return {
        "symbols": {
            s.symbol: {
                "epoch": s.epoch,
                "primary": s.primary or None,
                "followers": list(s.followers),
                "in_sync": list(s.in_sync),
                "seq": s.seq,
            }
            for s in sorted(placement.symbols, key=lambda s: s.symbol)
        },
        "engines": [
            # peer_address: where the engine serves replication; empty: at its address.
            {
                "id": e.engine_id,
                "address": e.address,
                "alive": e.alive,
                "peer_address": e.peer_address,
            }
            for e in sorted(placement.engines, key=lambda e: e.engine_id)
        ],
        "version": placement.version,
        "replication_factor": placement.replication_factor,
        "acks": placement.acks,
    }


async def fetch_placement(
    address: str, *, rpc_timeout: float, tls: TlsFiles | None = None
) -> dict[str, Any]:
    """``GetPlacement`` from discovery at ``address``, as ``placement_json``."""
    try:
        async with open_channel(address, tls) as channel:
            stub = dp_grpc.DiscoveryServiceStub(channel)
            answer = await stub.GetPlacement(dp.GetPlacementRequest(), timeout=rpc_timeout)
    except grpc.aio.AioRpcError as exc:
        raise PlacementUnavailable(f"{exc.code().name}: {exc.details()}") from None
    return placement_json(answer)


def fetch_placement_sync(
    address: str, *, timeout: float, tls: TlsFiles | None = None
) -> dict[str, Any]:
    """``fetch_placement`` for callers outside an event loop's coroutines' reach."""
    try:
        with open_sync_channel(address, tls) as channel:
            stub = dp_grpc.DiscoveryServiceStub(channel)
            answer = stub.GetPlacement(dp.GetPlacementRequest(), timeout=timeout)
    except grpc.RpcError as exc:
        raise PlacementUnavailable(str(exc)) from None
    return placement_json(answer)
