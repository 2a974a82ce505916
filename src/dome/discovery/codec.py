"""Between discovery's records and the wire's ``dome.v1`` messages, both ways."""

from __future__ import annotations

from collections.abc import Iterable

from dome.discovery.records import EngineView, PlacementView, Report, SymbolView
from dome.v1 import discovery_pb2 as pb


def report_from_pb(report: pb.ReplicaReport) -> Report:
    return Report(
        report.symbol,
        report.epoch,
        report.journaled_seq,
        report.last_epoch,
        report.applied_seq,
        report.writable,
        report.failed,
    )


def reports_from_pb(reports: Iterable[pb.ReplicaReport]) -> list[Report]:
    return [report_from_pb(r) for r in reports]


def symbol_to_pb(view: SymbolView) -> pb.SymbolPlacement:
    return pb.SymbolPlacement(
        symbol=view.symbol,
        epoch=view.epoch,
        primary=view.primary,
        followers=list(view.followers),
        in_sync=list(view.in_sync),
        seq=view.seq,
    )


def engine_to_pb(view: EngineView) -> pb.EngineInfo:
    return pb.EngineInfo(
        engine_id=view.engine_id,
        address=view.address,
        alive=view.alive,
        metrics_url=view.metrics_url,
        draining=view.draining,
        peer_address=view.peer_address,
    )


def placement_to_pb(view: PlacementView) -> pb.Placement:
    return pb.Placement(
        version=view.version,
        symbols=[symbol_to_pb(s) for s in view.symbols],
        engines=[engine_to_pb(e) for e in view.engines],
        replication_factor=view.replication_factor,
        acks=view.acks,
    )


def placement_from_pb(placement: pb.Placement) -> PlacementView:
    """The wire's placement as records (for clients that prefer frozen dataclasses)."""
    return PlacementView(
        placement.version,
        tuple(
            SymbolView(s.symbol, s.epoch, s.primary, tuple(s.followers), tuple(s.in_sync), s.seq)
            for s in placement.symbols
        ),
        tuple(
            EngineView(e.engine_id, e.address, e.metrics_url, e.alive, e.draining, e.peer_address)
            for e in placement.engines
        ),
        placement.replication_factor,
        placement.acks,
    )
