"""A batch's answers as bytes: the native encoder writes what upb writes, and the engine
answers alike on both cores.

``SubmitOrders`` sends the bytes its core's encoder wrote (``dome.engine.answers``), so
the native ``encode_order_batch_result`` must equal ``encode_reference`` (the generated
classes' serialization) for every row the engine can make, and what an ``EngineNode``
answers to the same flow must be byte-equal whichever core matched it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import native_core
from dome.core.types import RejectReason
from dome.cores import python_market
from dome.engine import answers
from dome.engine.metrics import EngineMetrics
from dome.engine.node import EngineNode
from dome.instrument_spec import InstrumentSpec
from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr

U64 = st.integers(0, 2**64 - 1)
#: Proto3 enums are open: any int32 serializes, negatives as ten bytes.
ENUM = st.one_of(st.integers(0, 40), st.integers(-(2**31), 2**31 - 1))
TEXT = st.one_of(st.sampled_from(["", "0", "0.0005", "30000.1"]), st.text(max_size=12))
FILL = st.tuples(U64, TEXT, TEXT, st.booleans())
ANSWER = st.tuples(
    TEXT, U64, TEXT, ENUM, ENUM, TEXT, TEXT, TEXT, TEXT,
    st.lists(FILL, max_size=3).map(tuple), U64, st.booleans(),
)  # fmt: skip


def _encode_native() -> answers.Encoder:
    return answers.encoder("native") if native_core.module() else answers.encode_reference


@settings(max_examples=1_000, deadline=None)
@given(batch_id=U64, rows=st.lists(ANSWER, max_size=5))
def test_the_native_encoder_writes_what_upb_writes(batch_id: int, rows: list[Any]) -> None:
    encode = _encode_native()
    want = answers.encode_reference(batch_id, rows)
    assert encode(batch_id, rows) == want
    decoded = tr.OrderBatchResult.FromString(want)
    assert decoded.batch_id == batch_id
    assert [answers.of_message(r) for r in decoded.results] == rows


@pytest.mark.parametrize(
    "rows",
    [
        [("X", 1, "", 1, 0, "", "0", "0", "0", (), 1)],  # a field short
        [("X", 1, "", 1, 0, "", "0", "0", "0", (), 1, False, 0)],  # a field over
        [("X", -1, "", 1, 0, "", "0", "0", "0", (), 1, False)],  # order id below 0
        [("X", 1, b"c", 1, 0, "", "0", "0", "0", (), 1, False)],  # bytes, not text
        [("X", 1, "", 1, 0, "", "0", "0", "0", ((1, "1", "1"),), 1, False)],  # short fill
        [["X", 1, "", 1, 0, "", "0", "0", "0", (), 1, False]],  # a list, not a tuple
        None,
    ],
)
def test_a_row_that_is_no_answer_is_a_typed_error_natively(rows: Any) -> None:
    encode = native_core.module().encode_order_batch_result
    with pytest.raises((TypeError, OverflowError)):
        encode(1, rows)


def test_answer_rows_are_order_results_field_for_field() -> None:
    names = [f.name for f in tr.OrderResult.DESCRIPTOR.fields]
    assert [f.number for f in tr.OrderResult.DESCRIPTOR.fields] == list(range(1, 13))
    row = answers.rejected("X", RejectReason.UNKNOWN_SYMBOL, "c", 4)
    message = answers.message(row)
    assert [getattr(message, n) for n in names if n != "fills"] == [
        v for i, v in enumerate(row) if i != 9
    ]
    assert [f.name for f in pb.Fill.DESCRIPTOR.fields] == ["trade_id", "price", "qty", "maker"]


# ------------------------------------------------------------- both cores, one flow

SPEC = InstrumentSpec.from_dict(
    {"symbol": "XYZ", "tick_size": "1", "lot_size": "1", "min_qty": "1", "max_qty": "50"}
)
SIDES = ("SIDE_BUY", "SIDE_SELL")
TYPES = ("ORDER_TYPE_LIMIT", "ORDER_TYPE_MARKET", "ORDER_TYPE_IOC", "ORDER_TYPE_FOK",
         "ORDER_TYPE_POST_ONLY")  # fmt: skip


def _submit(side: str, kind: str, qty: str, price: str, coid: str) -> tr.OrderAction:
    return tr.OrderAction(
        submit=tr.SubmitOrderRequest(
            symbol="XYZ",
            side=pb.Side.Value(side),
            type=pb.OrderType.Value(kind),
            qty=qty,
            price=price,
            client_order_id=coid,
        )
    )


def _cancel(order_id: int, coid: str) -> tr.OrderAction:
    return tr.OrderAction(
        cancel=tr.CancelOrderRequest(symbol="XYZ", order_id=order_id, client_order_id=coid)
    )


def _amend(order_id: int, qty: str, price: str) -> tr.OrderAction:
    return tr.OrderAction(
        amend=tr.AmendOrderRequest(symbol="XYZ", order_id=order_id, qty=qty, price=price)
    )


ACTION = st.one_of(
    st.builds(
        _submit,
        st.sampled_from(SIDES),
        st.sampled_from(TYPES),
        st.sampled_from(["1", "2", "5", "0", "51", "1.5"]),
        st.sampled_from(["", "8", "9", "10", "11", "12", "0.5"]),
        st.sampled_from(["", "a", "b", "c"]),
    ),
    st.builds(_cancel, st.integers(0, 30), st.sampled_from(["", "a", "b"])),
    st.builds(
        _amend, st.integers(0, 30), st.sampled_from(["", "1", "3"]), st.sampled_from(["", "9"])
    ),
    st.just(tr.OrderAction(submit=tr.SubmitOrderRequest(symbol="NOPE", qty="1", price="1"))),
)
FLOW = st.lists(
    st.tuples(st.sampled_from(["alice", "bob"]), st.lists(ACTION, min_size=1, max_size=6)),
    max_size=12,
)


def _native_market(instrument: Any, window: int) -> Any:
    return native_core.module().Market(instrument, window)


async def _answer_bytes(
    market_factory: Callable[..., Any], encode: answers.Encoder, flow: list[Any]
) -> list[bytes]:
    clock = iter(range(1_000, 10**9))
    node = EngineNode(
        [SPEC],
        EngineMetrics("test", core="python"),
        market_factory=market_factory,
        clock_ns=lambda: next(clock),
    )
    node.start()
    try:
        return [
            encode(i, await node.submit_answers(account, actions))
            for i, (account, actions) in enumerate(flow)
        ]
    finally:
        await node.stop()


@settings(max_examples=200, deadline=None)
@given(flow=FLOW)
def test_both_cores_answer_a_flow_with_the_same_bytes(flow: list[Any]) -> None:
    python = asyncio.run(_answer_bytes(python_market, answers.encode_reference, flow))
    native = asyncio.run(_answer_bytes(_native_market, _encode_native(), flow))
    assert native == python
