"""The log's record format: a batch of sequenced commands as an encoded ``dome.v1.LogBatch``.

One batch is what the primary sequenced together: consecutive sequence numbers, one
timestamp, one epoch. The same bytes are journaled by the primary, shipped to followers
and journaled there verbatim, so decoding must rebuild exactly the commands the primary
applied (same NamedTuple types, IntEnum members), or replicas would drift.

This sits on the hot path of every replica (tens of thousands of commands a second), so
both directions are written flat: enum lookups by dict, tuples built with
``tuple.__new__``, attributes bound to locals.

Negative prices and quantities are carried, not refused: the edge passes them on so the
book rejects them (``QTY_NOT_POSITIVE``, ``PRICE_REQUIRED``) in sequence like any other
reject, and the log must be able to hold every command a book can answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError

from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.types import OrderType, SelfTradePrevention, Side
from dome.log.errors import LogFormatError
from dome.v1 import replication_pb2 as rp

_SIDES: dict[int, Side] = {int(s): s for s in Side}
_TYPES: dict[int, OrderType] = {int(t): t for t in OrderType}
_STPS: dict[int, SelfTradePrevention] = {int(m): m for m in SelfTradePrevention}
_new: Any = tuple.__new__
_UINT64 = 2**64


class DecodedBatch(NamedTuple):
    """A batch as the engine uses it: header fields plus the rebuilt commands."""

    symbol: str
    epoch: int
    first_seq: int
    last_seq: int
    timestamp_ns: int
    #: Highest sequence number the primary knew committed when it sent the batch.
    committed_seq: int
    commands: tuple[Command, ...]


def encode_batch(symbol: str, epoch: int, commands: Sequence[Command], committed_seq: int) -> bytes:
    """Serialise ``commands`` (consecutive seqs, one shared timestamp) as a ``LogBatch``.

    ``ValueError`` for an empty batch, a gap, mixed timestamps, a sequence number below 1,
    an enum value the proto does not know, or a value out of its field's range.

    >>> cmd = CancelOrder(7, 1_000, "alice", 3)
    >>> decode_batch(encode_batch("XYZ", 2, [cmd], 6)).commands == (cmd,)
    True
    """
    if not commands:
        raise ValueError("a log batch needs at least one command")
    first = commands[0]
    first_seq = first.seq
    timestamp_ns = first.timestamp_ns
    if first_seq < 1:
        raise ValueError(f"sequence numbers start at 1, got {first_seq}")
    # Filling submessages in place is ~2.5x cheaper than building them with keywords.
    batch = rp.LogBatch()
    add = batch.commands.add
    expected = first_seq
    try:
        batch.symbol = symbol
        batch.epoch = epoch
        batch.first_seq = first_seq
        batch.timestamp_ns = timestamp_ns
        batch.committed_seq = committed_seq
        # Any: the three kinds are unpacked by position, after an exact type check.
        cmd: Any
        for cmd in commands:
            if cmd.seq != expected:
                raise ValueError(f"seq {cmd.seq} follows {expected - 1}: not consecutive")
            if cmd.timestamp_ns != timestamp_ns:
                raise ValueError(f"seq {cmd.seq} has another timestamp than its batch")
            expected += 1
            kind = type(cmd)
            if kind is NewOrder:
                _, _, order_id, account, cid, side, order_type, price, qty, stp = cmd
                if side not in _SIDES or order_type not in _TYPES or stp not in _STPS:
                    raise ValueError(f"seq {cmd.seq}: side, order type or stp out of range")
                n = add().new_order
                n.order_id = order_id
                n.account = account
                n.client_order_id = cid
                n.side = side
                n.order_type = order_type
                n.price = price
                n.qty = qty
                n.stp = stp
            elif kind is CancelOrder:
                x = add().cancel
                x.account = cmd[2]
                x.order_id = cmd[3]
            elif kind is AmendOrder:
                a = add().amend
                a.account = cmd[2]
                a.order_id = cmd[3]
                a.qty = cmd[4]
                a.price = cmd[5]
            else:
                raise ValueError(f"not a command: {cmd!r}")
    except (TypeError, OverflowError) as exc:
        raise ValueError(f"a field is out of range or of the wrong type: {exc}") from None
    return batch.SerializeToString()


def decode_batch(data: bytes) -> DecodedBatch:
    """Rebuild a batch from ``encode_batch`` bytes; ``LogFormatError`` if they are not one.

    Refused: bytes protobuf cannot parse, a batch without commands, a first sequence
    number of 0 or one that would overflow, a command of no known kind, and side, order
    type or stp values the core does not define.
    """
    batch = rp.LogBatch()
    try:
        batch.ParseFromString(data)
    except DecodeError as exc:
        raise LogFormatError(f"not a LogBatch: {exc}") from None
    commands_pb = batch.commands
    count = len(commands_pb)
    if not count:
        raise LogFormatError("log batch without commands")
    first_seq = batch.first_seq
    if first_seq < 1 or first_seq + count > _UINT64:
        raise LogFormatError(f"log batch with first_seq {first_seq} and {count} commands")
    timestamp_ns = batch.timestamp_ns
    sides = _SIDES
    types = _TYPES
    stps = _STPS
    new = _new
    commands: list[Command] = []
    append = commands.append
    seq = first_seq
    try:
        for c in commands_pb:
            kind = c.WhichOneof("command")
            if kind == "new_order":
                n = c.new_order
                append(
                    new(
                        NewOrder,
                        (
                            seq,
                            timestamp_ns,
                            n.order_id,
                            n.account,
                            n.client_order_id,
                            sides[n.side],
                            types[n.order_type],
                            n.price,
                            n.qty,
                            stps[n.stp],
                        ),
                    )
                )
            elif kind == "cancel":
                x = c.cancel
                append(new(CancelOrder, (seq, timestamp_ns, x.account, x.order_id)))
            elif kind == "amend":
                a = c.amend
                append(new(AmendOrder, (seq, timestamp_ns, a.account, a.order_id, a.qty, a.price)))
            else:
                raise LogFormatError(f"seq {seq}: command of no known kind")
            seq += 1
    except KeyError as exc:
        raise LogFormatError(f"seq {seq}: unknown enum value {exc.args[0]}") from None
    return DecodedBatch(
        batch.symbol,
        batch.epoch,
        first_seq,
        seq - 1,
        timestamp_ns,
        batch.committed_seq,
        tuple(commands),
    )
