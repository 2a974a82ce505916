"""The gRPC adapter of ``Discovery``: decode, call, encode - nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from dome.discovery.codec import engine_to_pb, placement_to_pb, reports_from_pb, symbol_to_pb
from dome.discovery.errors import InvalidArgument, Unavailable, guard
from dome.discovery.service import Discovery
from dome.v1 import discovery_pb2 as pb
from dome.v1 import discovery_pb2_grpc as pb_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class DiscoveryServicer(pb_grpc.DiscoveryServiceServicer):
    """``dome.v1.DiscoveryService`` over one ``Discovery``."""

    def __init__(self, discovery: Discovery) -> None:
        self._discovery = discovery
        self._timings = discovery.config.timings

    async def RegisterEngine(
        self, request: pb.RegisterEngineRequest, context: Context
    ) -> pb.RegisterEngineResponse:
        async with guard(context, "RegisterEngine"):
            if not (request.engine_id and request.address and request.incarnation):
                raise InvalidArgument("engine_id, address and incarnation are required")
            view = self._discovery.register(
                request.engine_id,
                request.incarnation,
                request.address,
                request.metrics_url,
                reports_from_pb(request.replicas),
                peer_address=request.peer_address,
            )
            return pb.RegisterEngineResponse(
                lease_ttl_seconds=self._timings.lease_ttl,
                heartbeat_interval_seconds=self._timings.heartbeat_interval,
                placement=placement_to_pb(view),
            )
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover

    async def Heartbeat(
        self, request: pb.HeartbeatRequest, context: Context
    ) -> pb.HeartbeatResponse:
        async with guard(context, "Heartbeat"):
            version = self._discovery.heartbeat(
                request.engine_id, request.incarnation, reports_from_pb(request.replicas)
            )
            return pb.HeartbeatResponse(
                placement_version=version, lease_ttl_seconds=self._timings.lease_ttl
            )
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover

    async def GetPlacement(self, request: pb.GetPlacementRequest, context: Context) -> pb.Placement:
        return placement_to_pb(self._discovery.placement())

    async def WatchPlacement(
        self, request: pb.WatchPlacementRequest, context: Context
    ) -> AsyncIterator[pb.Placement]:
        async with guard(context, "WatchPlacement"):
            async for view in self._discovery.watch():
                yield placement_to_pb(view)

    async def ListEngines(
        self, request: pb.ListEnginesRequest, context: Context
    ) -> pb.ListEnginesResponse:
        engines = self._discovery.placement().engines
        return pb.ListEnginesResponse(engines=[engine_to_pb(e) for e in engines])

    async def AssignClient(
        self, request: pb.AssignClientRequest, context: Context
    ) -> pb.AssignClientResponse:
        async with guard(context, "AssignClient"):
            engine, address, view = self._discovery.assign(request.client_id)
            if not engine:
                raise Unavailable("no engine is alive")
            return pb.AssignClientResponse(
                engine_id=engine, address=address, placement=placement_to_pb(view)
            )
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover

    async def DrainEngine(
        self, request: pb.DrainEngineRequest, context: Context
    ) -> pb.DrainEngineResponse:
        async with guard(context, "DrainEngine"):
            if not (request.engine_id and request.incarnation):
                raise InvalidArgument("engine_id and incarnation are required")
            status = self._discovery.drain(request.engine_id, request.incarnation)
            return pb.DrainEngineResponse(primaries=status.primaries, stranded=status.stranded)
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover

    async def EvacuateEngines(
        self, request: pb.EvacuateEnginesRequest, context: Context
    ) -> pb.EvacuateEnginesResponse:
        async with guard(context, "EvacuateEngines"):
            if any(not engine for engine in request.engine_ids):
                raise InvalidArgument("engine_ids may not contain an empty id")
            status = self._discovery.evacuate(list(request.engine_ids))
            return pb.EvacuateEnginesResponse(
                leaving=list(status.leaving),
                replicas_left=status.replicas_left,
                under_replicated=status.under_replicated,
                done=status.done,
            )
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover

    async def UpdateInSync(
        self, request: pb.UpdateInSyncRequest, context: Context
    ) -> pb.UpdateInSyncResponse:
        async with guard(context, "UpdateInSync"):
            accepted, view = await self._discovery.update_in_sync(
                request.symbol, request.epoch, request.primary, list(request.in_sync)
            )
            placement = symbol_to_pb(view) if view is not None else None
            return pb.UpdateInSyncResponse(accepted=accepted, placement=placement)
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover
