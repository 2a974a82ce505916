"""``dome.v1.ReplicationService``: followers pull logs, peers fetch snapshots, tools audit.

A thin adapter over ``Replica`` (the decisions) and the journal (the bytes). On
``Replicate`` the primary first sends the journaled batches the follower lacks, then
the live ones; the session is registered before the journal's end is read, so a batch
sequenced meanwhile is queued for live delivery and skipped by neither part.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc

from dome.engine.errors import InvalidArgument, NotFound, OutOfRange, guard
from dome.engine.replica import FollowerSession, Replica
from dome.log.entries import decode_batch
from dome.log.errors import LogCompacted
from dome.v1 import replication_pb2 as rp
from dome.v1 import replication_pb2_grpc as rp_grpc

log = logging.getLogger("dome.engine.replication")

Context = grpc.aio.ServicerContext[Any, Any]

#: End of a stream, as ``read()`` returns it (the stubs do not declare it).
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]

#: Bytes per ``SnapshotChunk`` (well under the default 4 MiB message cap).
SNAPSHOT_CHUNK = 1024 * 1024
#: Batches per ``FetchLogResponse``.
FETCH_LOG_BATCHES = 256


def _read_from(replica: Replica, seq: int) -> Iterator[bytes]:
    """The journal's records from ``seq`` on; ``OutOfRange`` naming the first one held.

    A peer asking for compacted history is an expected condition (it should fetch a
    snapshot), not an internal error.
    """
    try:
        return replica.journal.read_from(seq)
    except LogCompacted as exc:
        raise OutOfRange(
            f"{replica.symbol}: seq {exc.seq} is no longer held here; the journal starts at "
            f"seq {exc.first_seq} (fetch a snapshot for what lies before)"
        ) from None


class ReplicationServicer(rp_grpc.ReplicationServiceServicer):
    """Serves one engine's replicas to its peers."""

    def __init__(
        self,
        engine_id: str,
        replicas: dict[str, Replica],
        snapshot: Callable[[str], tuple[int, int, bytes]],
        state_hash: Callable[[str], str],
    ) -> None:
        self._engine_id = engine_id
        self._replicas = replicas
        self._snapshot = snapshot
        self._state_hash = state_hash

    def _replica(self, symbol: str) -> Replica:
        replica = self._replicas.get(symbol)
        if replica is None:
            raise NotFound(f"unknown symbol {symbol!r}")
        return replica

    async def Replicate(  # type: ignore[override]  # read/write style, not a generator
        self, request_iterator: AsyncIterator[rp.ReplicateRequest], context: Context
    ) -> None:
        async with guard(context, "Replicate"):
            first: Any = await context.read()
            if first is _EOF or first.WhichOneof("kind") != "subscribe":
                raise InvalidArgument("a Replicate stream must open with a subscribe message")
            sub = first.subscribe
            replica = self._replica(sub.symbol)
            start = replica.start_point(sub)
            if start.snapshot_required:
                await context.write(rp.ReplicateResponse(start=start))
                return
            session, history_end = replica.open_session(sub.follower_id, start.truncate_to)
            # A follower that already holds our whole log is caught up now: on an idle
            # symbol no batch (and so no ack) would ever say so.
            replica.on_ack(session, start.truncate_to)
            log.info(
                "follower subscribed",
                extra={
                    "symbol": sub.symbol,
                    "follower": sub.follower_id,
                    "from": start.truncate_to + 1,
                    "epoch": sub.epoch,
                },
            )
            reader = asyncio.create_task(self._read_acks(replica, session, context))
            try:
                await context.write(rp.ReplicateResponse(start=start))
                for data in _read_from(replica, start.truncate_to + 1):
                    if session.closed:
                        return
                    if decode_batch(data).first_seq > history_end:
                        break
                    await context.write(rp.ReplicateResponse(batch=data))
                await context.write(rp.ReplicateResponse(committed_seq=replica.committed_seq))
                # Batches journaled since registration were queued (the primary journals
                # and queues in one step), never read above: the history stopped short.
                while not session.closed:
                    for item in await session.take():
                        await context.write(item)
            finally:
                reader.cancel()
                replica.close_session(session)

    @staticmethod
    async def _read_acks(replica: Replica, session: FollowerSession, context: Context) -> None:
        try:
            while True:
                message: Any = await context.read()
                if message is _EOF:
                    break
                if message.WhichOneof("kind") == "ack":
                    replica.on_ack(session, message.ack.journaled_seq)
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        finally:
            replica.close_session(session)

    async def FetchLog(
        self, request: rp.FetchLogRequest, context: Context
    ) -> AsyncIterator[rp.FetchLogResponse]:
        async with guard(context, "FetchLog"):
            replica = self._replica(request.symbol)
            out = rp.FetchLogResponse()
            for data in _read_from(replica, max(1, request.from_seq)):
                if request.to_seq and decode_batch(data).first_seq > request.to_seq:
                    break
                out.batches.append(data)
                if len(out.batches) >= FETCH_LOG_BATCHES:
                    yield out
                    out = rp.FetchLogResponse()
            if out.batches:
                yield out

    async def FetchSnapshot(
        self, request: rp.FetchSnapshotRequest, context: Context
    ) -> AsyncIterator[rp.SnapshotChunk]:
        async with guard(context, "FetchSnapshot"):
            self._replica(request.symbol)
            seq, epoch, data = self._snapshot(request.symbol)
            for offset in range(0, max(len(data), 1), SNAPSHOT_CHUNK):
                piece = data[offset : offset + SNAPSHOT_CHUNK]
                yield rp.SnapshotChunk(
                    symbol=request.symbol,
                    seq=seq,
                    epoch=epoch,
                    data=piece,
                    last=offset + SNAPSHOT_CHUNK >= len(data),
                )

    async def GetReplicaStatus(
        self, request: rp.GetReplicaStatusRequest, context: Context
    ) -> rp.GetReplicaStatusResponse:
        async with guard(context, "GetReplicaStatus"):
            return rp.GetReplicaStatusResponse(
                engine_id=self._engine_id,
                replicas=[
                    replica.status(self._state_hash(symbol))
                    for symbol, replica in sorted(self._replicas.items())
                ],
            )
        raise AssertionError("unreachable: guard aborts")  # pragma: no cover
