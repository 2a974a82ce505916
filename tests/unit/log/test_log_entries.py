"""Batches round-trip exactly, and anything that is not a batch is a ``LogFormatError``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.types import OrderType, SelfTradePrevention, Side
from dome.log.entries import DecodedBatch, decode_batch, encode_batch
from dome.log.errors import LogFormatError
from dome.v1 import replication_pb2 as rp

TS = 1_700_000_000_123_456_789


def every_kind(first_seq: int = 10) -> list[Command]:
    """One new order per (side, type, stp), plus a cancel and two amends."""
    out: list[Command] = []
    seq = first_seq
    for side in Side:
        for order_type in OrderType:
            for stp in SelfTradePrevention:
                price = 0 if order_type == OrderType.MARKET else 101
                out.append(
                    NewOrder(seq, TS, seq, "alice", f"c{seq}", side, order_type, price, 3, stp)
                )
                seq += 1
    out.append(CancelOrder(seq, TS, "bob", 11))
    out.append(AmendOrder(seq + 1, TS, "bob", 12, 0, 99))
    out.append(AmendOrder(seq + 2, TS, "bob", 2**63 - 1, 2**62, 0))
    return out


def test_every_command_kind_and_enum_round_trips() -> None:
    commands = every_kind()
    batch = decode_batch(encode_batch("BTC-USD", 4, commands, 9))
    assert batch == DecodedBatch("BTC-USD", 4, 10, commands[-1].seq, TS, 9, tuple(commands))
    for got, sent in zip(batch.commands, commands, strict=True):
        assert type(got) is type(sent)
        for a, b in zip(got, sent, strict=True):
            assert type(a) is type(b), (got, sent)


def test_negative_values_are_carried_for_the_book_to_reject() -> None:
    cmd = NewOrder(1, -5, 1, "a", "", Side.SELL, OrderType.LIMIT, -3, -7)
    assert decode_batch(encode_batch("X", 1, [cmd], 0)).commands == (cmd,)


names = st.text(max_size=12)
ints = st.integers(-(2**63), 2**63 - 1)
ids = st.integers(0, 2**64 - 1)


@st.composite
def command_lists(draw: st.DrawFn) -> list[Command]:
    first = draw(st.integers(1, 2**40))
    ts = draw(ints)
    out: list[Command] = []
    for i in range(draw(st.integers(1, 20))):
        seq = first + i
        kind = draw(st.sampled_from(["new", "cancel", "amend"]))
        if kind == "new":
            out.append(
                NewOrder(
                    seq, ts, draw(ids), draw(names), draw(names), draw(st.sampled_from(Side)),
                    draw(st.sampled_from(OrderType)), draw(ints), draw(ints),
                    draw(st.sampled_from(SelfTradePrevention)),
                )
            )  # fmt: skip
        elif kind == "cancel":
            out.append(CancelOrder(seq, ts, draw(names), draw(ids)))
        else:
            out.append(AmendOrder(seq, ts, draw(names), draw(ids), draw(ints), draw(ints)))
    return out


@settings(max_examples=200)
@given(commands=command_lists(), epoch=ids, committed=ids, symbol=names)
def test_any_batch_round_trips(
    commands: list[Command], epoch: int, committed: int, symbol: str
) -> None:
    batch = decode_batch(encode_batch(symbol, epoch, commands, committed))
    assert batch.commands == tuple(commands)
    assert (batch.symbol, batch.epoch, batch.committed_seq) == (symbol, epoch, committed)
    assert batch.last_seq - batch.first_seq + 1 == len(commands)


NEW = NewOrder(5, TS, 5, "a", "", Side.BUY, OrderType.LIMIT, 100, 1)


@pytest.mark.parametrize(
    ("commands", "match"),
    [
        ([], "at least one"),
        ([NEW, NEW._replace(seq=7)], "not consecutive"),
        ([NEW, NEW._replace(seq=6, timestamp_ns=1)], "another timestamp"),
        ([NEW._replace(seq=0)], "start at 1"),
        ([NEW._replace(side=7)], "out of range"),  # type: ignore[arg-type]
        ([NEW._replace(order_id=-1)], "out of range"),
        ([NEW._replace(price=2**63)], "out of range"),
        ([NEW._replace(account=5)], "wrong type"),  # type: ignore[arg-type]
    ],
)
def test_encode_refuses_what_decode_could_not_return(commands: list[Command], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode_batch("X", 1, commands, 0)


def _raw(**fields: object) -> bytes:
    return rp.LogBatch(**fields).SerializeToString()  # type: ignore[arg-type]


def _with_new_order(**fields: object) -> bytes:
    base: dict[str, object] = {"order_id": 1, "side": 1, "order_type": 1, "stp": 1, "qty": 1}
    base.update(fields)
    command = rp.LogCommand(new_order=rp.LogNewOrder(**base))  # type: ignore[arg-type]
    return _raw(symbol="X", epoch=1, first_seq=1, commands=[command])


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\xff\xff\xff", "not a LogBatch"),
        (b"\x0a\x05ab", "not a LogBatch"),
        (_raw(symbol="X", epoch=1, first_seq=1), "without commands"),
        (_raw(symbol="X", first_seq=1, commands=[rp.LogCommand()]), "no known kind"),
        (_with_new_order(side=0), "unknown enum value 0"),
        (_with_new_order(order_type=9), "unknown enum value 9"),
        (_with_new_order(stp=-1), "unknown enum value -1"),
        (
            _raw(first_seq=0, commands=[rp.LogCommand(cancel=rp.LogCancel(order_id=1))]),
            "first_seq 0",
        ),
        (
            _raw(first_seq=2**64 - 1, commands=[rp.LogCommand(cancel=rp.LogCancel())] * 2),
            "first_seq",
        ),
    ],
)
def test_malformed_bytes_are_log_format_errors(data: bytes, match: str) -> None:
    with pytest.raises(LogFormatError, match=match):
        decode_batch(data)


def test_the_well_formed_control_decodes() -> None:
    """The malformed cases above differ from a valid batch only in what they break."""
    assert decode_batch(_with_new_order()).commands[0].seq == 1
