"""A peer asking for history this engine no longer holds gets OUT_OF_RANGE, not INTERNAL.

After a replica rejoins through a snapshot (or compacts), its journal starts past seq 1;
``FetchLog`` from before that is an expected request with a typed answer that names the
first sequence number held, so the caller knows to fetch a snapshot.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc

from dome.engine.replication_service import ReplicationServicer
from dome.log.journal import Journal
from dome.v1 import replication_pb2 as rp


class Aborted(Exception):
    pass


class FakeContext:
    """The part of a grpc.aio servicer context that ``guard`` uses."""

    def __init__(self) -> None:
        self.code: grpc.StatusCode | None = None
        self.details = ""

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise Aborted


def _servicer(journal: Journal) -> ReplicationServicer:
    replica: Any = SimpleNamespace(symbol="AAA-USD", journal=journal)
    return ReplicationServicer("engine-0", {"AAA-USD": replica}, lambda s: (0, 0, b""), str)


async def _fetch(servicer: ReplicationServicer, from_seq: int) -> tuple[list[Any], FakeContext]:
    context = FakeContext()
    got: list[Any] = []
    request = rp.FetchLogRequest(symbol="AAA-USD", from_seq=from_seq)
    with contextlib.suppress(Aborted):
        async for part in servicer.FetchLog(request, context):  # type: ignore[arg-type]
            got.append(part)
    return got, context


async def test_fetch_below_a_reset_journal_is_out_of_range_naming_the_first_seq(
    tmp_path: Path,
) -> None:
    journal = Journal.open(tmp_path)
    journal.reset(445, [(1, 1)])
    assert journal.first_seq == 446
    got, context = await _fetch(_servicer(journal), 1)
    assert got == []
    assert context.code == grpc.StatusCode.OUT_OF_RANGE, context.details
    assert "starts at seq 446" in context.details
    journal.close()


async def test_fetch_from_the_first_seq_held_is_served(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.reset(445, [(1, 1)])
    got, context = await _fetch(_servicer(journal), 446)
    assert context.code is None, context.details  # ended normally: nothing journaled yet
    assert got == []
    journal.close()
