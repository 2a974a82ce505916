"""The follower's half of a replica: pull the primary's log, journal, ack, apply.

A task pulls the primary's log over ``Replicate``, journals each batch byte for byte,
acks, and applies batches only once the primary says they are committed, so nothing a
follower publishes can be rolled back by a failover. A journal the new epoch does not
hold is truncated; one too far behind (or diverging below what was applied) is replaced
by the primary's snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc

from dome import faults
from dome.engine.replica_state import ReplicaState, Role
from dome.log.entries import decode_batch
from dome.log.errors import FsyncFailed, JournalGap, LogFormatError, StaleEpoch
from dome.v1 import replication_pb2 as rp
from dome.v1 import replication_pb2_grpc as rp_grpc

log = logging.getLogger("dome.engine.replica")

#: Deadline of the first answer on a ``Replicate`` stream.
START_TIMEOUT = 3.0

#: End of a stream, as ``read()`` returns it (the stubs do not declare it).
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]


async def write_or_ended(call: Any, message: rp.ReplicateRequest) -> bool:
    """Write ``message`` on a ``Replicate`` stream; False if the primary had ended it.

    A primary ends a follower's stream by returning (it stepped down, failed the symbol
    or cut off a laggard) while the follower may be writing an ack. That write fails,
    and grpcio's asyncio client reports it either as ``InvalidStateError`` or, when the
    failed write is processed after the primary's status, as ``INTERNAL: Internal error
    from Core``, which overwrites the status the primary sent (grpc/grpc#36066). Neither
    is an error of ours or the primary's: the stream is over and the next subscribe
    hears the reason, typed. Any other status is real (the primary is gone) and raised.
    """
    try:
        await call.write(message)
    except asyncio.InvalidStateError:
        return False
    except grpc.aio.AioRpcError as exc:
        if exc.code() is grpc.StatusCode.INTERNAL:
            return False
        raise  # a real status (UNAVAILABLE: the primary is gone), logged with its code
    return True


class FollowerSide(ReplicaState):
    """Replication as a follower of the symbol's primary."""

    async def _follow(self, epoch: int, primary_id: str) -> None:
        backoff = 0.05
        while self.role is Role.FOLLOWER and self.epoch == epoch:
            try:
                await self._follow_once(epoch, primary_id)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except FsyncFailed as exc:
                self.fail(exc)
                return
            except grpc.aio.AioRpcError as exc:
                log.info(
                    "replication stream ended",
                    extra={
                        "symbol": self.symbol,
                        "primary": primary_id,
                        "code": exc.code().name,
                        "error": exc.details(),
                    },
                )
            except (LogFormatError, JournalGap, StaleEpoch, ValueError) as exc:
                if self._stats is not None:
                    self._stats.observe_refused()
                log.error(
                    "replication entry refused",
                    extra={"symbol": self.symbol, "primary": primary_id, "error": str(exc)},
                )
            except Exception:
                log.exception("following failed", extra={"symbol": self.symbol})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 0.5)

    async def _follow_once(self, epoch: int, primary_id: str) -> None:
        stub = rp_grpc.ReplicationServiceStub(self._peers.peer_channel(primary_id))
        # read/write style; the peer secret proves to the primary that we are a peer
        call: Any = stub.Replicate(metadata=self._peers.metadata)  # type: ignore[call-arg]
        try:
            await call.write(
                rp.ReplicateRequest(
                    subscribe=rp.ReplicateSubscribe(
                        symbol=self.symbol,
                        epoch=epoch,
                        follower_id=self.engine_id,
                        last_seq=self.journal.last_seq,
                        last_epoch=self.journal.last_epoch,
                    )
                )
            )
            async with asyncio.timeout(START_TIMEOUT):
                first = await call.read()
            if first is _EOF or first.WhichOneof("kind") != "start":
                raise ValueError("replication stream did not start with a start message")
            start = first.start
            if start.snapshot_required:
                await self._fetch_snapshot(primary_id)
                return
            if start.truncate_to < self.applied_seq:
                # Our applied state holds entries the new epoch does not (a tail this
                # engine recovered from its own journal): start over from a snapshot.
                log.warning(
                    "journal diverges below the applied sequence; fetching a snapshot",
                    extra={"symbol": self.symbol, "applied": self.applied_seq},
                )
                await self._fetch_snapshot(primary_id)
                return
            if start.truncate_to < self.journal.last_seq:
                self._truncate(start.truncate_to)
            self._apply_through(min(start.committed_seq, self.journal.last_seq))
            journal = self.journal
            while True:
                message = await call.read()
                if message is _EOF:
                    return
                if self.role is not Role.FOLLOWER or self.epoch != epoch:
                    # Placement moved on (the task is being cancelled): never journal an
                    # entry of an epoch this engine has already reported leaving.
                    return
                kind = message.WhichOneof("kind")
                if kind == "batch":
                    batch = decode_batch(message.batch)
                    if batch.symbol != self.symbol or batch.epoch > epoch:
                        raise ValueError(
                            f"entry for {batch.symbol} at epoch {batch.epoch} on the "
                            f"{self.symbol} stream of epoch {epoch}"
                        )
                    journal.append(message.batch, batch)
                    self.pending.append(batch)
                    await journal.flush()
                    if faults.ARMED:
                        faults.crash("follower.journaled")
                    ack = rp.ReplicateRequest(ack=rp.ReplicateAck(journaled_seq=journal.last_seq))
                    if not await write_or_ended(call, ack):
                        log.info(
                            "replication stream ended",
                            extra={"symbol": self.symbol, "primary": primary_id, "code": "CLOSED"},
                        )
                        return
                    self._commit(batch.committed_seq)
                elif kind == "committed_seq":
                    self._commit(message.committed_seq)
        finally:
            call.cancel()

    def _commit(self, seq: int) -> None:
        seq = min(seq, self.journal.last_seq)
        if seq > self.committed_seq:
            self.committed_seq = seq
        self._apply_through(self.committed_seq)

    def _truncate(self, seq: int) -> None:
        log.warning(
            "truncating a journal tail the new epoch does not hold",
            extra={"symbol": self.symbol, "from": self.journal.last_seq, "to": seq},
        )
        self.journal.truncate_after(seq)
        while self.pending and self.pending[-1].first_seq > seq:
            self.pending.pop()

    async def _fetch_snapshot(self, primary_id: str) -> None:
        if self._install_snapshot is None:
            raise ValueError("this engine cannot install snapshots")
        stub = rp_grpc.ReplicationServiceStub(self._peers.peer_channel(primary_id))
        chunks: list[bytes] = []
        request = rp.FetchSnapshotRequest(symbol=self.symbol)
        async for chunk in stub.FetchSnapshot(request, metadata=self._peers.metadata):
            chunks.append(chunk.data)
        self._install_snapshot(b"".join(chunks))
        self.pending.clear()
        self.committed_seq = self.applied_seq
