"""What the engine answers per action, as plain rows, and a batch's answers as bytes.

An ``Answer`` is a ``dome.v1.OrderResult`` as a plain tuple, field for field in field
number order, its decimals already text: building an ``OrderResult`` message per order
and copying it into the ``OrderBatchResult`` cost the engine more than matching the
order did. ``SubmitOrders`` hands a batch's rows to an ``Encoder`` and writes its bytes
to the stream as they are (``dome.engine.raw_rpcs``); the unary calls and the mass
cancel build messages from the rows (``message``).

Two encoders, one output: ``encode_reference`` builds the message with the generated
classes and serializes it (upb), and the native core's ``encode_order_batch_result``
writes the same bytes with no object per answer; ``tests/unit/engine/test_answers.py``
holds them byte-equal. ``encoder`` chooses by core, as ``dome.cores`` chose the book.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from dome.core.types import OrderStatus, RejectReason
from dome.cores import NATIVE, NATIVE_MODULE
from dome.v1 import common_pb2 as pb
from dome.v1 import trading_pb2 as tr

#: One ``Fill``: (trade_id, price, qty, maker).
FillRow = tuple[int, str, str, bool]
#: One ``OrderResult``: (symbol, order_id, client_order_id, status, reject_reason,
#: reject_message, filled_qty, remaining_qty, cancelled_qty, fills, seq, duplicate).
Answer = tuple[str, int, str, int, int, str, str, str, str, tuple[FillRow, ...], int, bool]
#: ``(batch_id, answers) -> OrderBatchResult`` bytes.
Encoder = Callable[[int, Sequence[Answer]], bytes]

_REJECTED = int(OrderStatus.REJECTED)


def rejected(
    symbol: str, reason: RejectReason, client_order_id: str = "", order_id: int = 0
) -> Answer:
    """A REJECTED answer for a request no sequencer saw."""
    return (symbol, order_id, client_order_id, _REJECTED, int(reason), reason.message,
            "0", "0", "0", (), 0, False)  # fmt: skip


def _fields(answer: Answer) -> dict[str, object]:
    (symbol, order_id, coid, status, reason, message_, filled, remaining, cancelled, _, seq,
     duplicate) = answer  # fmt: skip
    return {
        "symbol": symbol,
        "order_id": order_id,
        "client_order_id": coid,
        "status": status,
        "reject_reason": reason,
        "reject_message": message_,
        "filled_qty": filled,
        "remaining_qty": remaining,
        "cancelled_qty": cancelled,
        "fills": [pb.Fill(trade_id=t, price=p, qty=q, maker=m) for t, p, q, m in answer[9]],
        "seq": seq,
        "duplicate": duplicate,
    }


def message(answer: Answer) -> tr.OrderResult:
    """The ``OrderResult`` message of ``answer``."""
    return tr.OrderResult(**_fields(answer))  # type: ignore[arg-type]


def of_message(result: tr.OrderResult) -> Answer:
    """The row of an ``OrderResult`` (a forwarded call's answer, from its primary)."""
    return (
        result.symbol,
        result.order_id,
        result.client_order_id,
        int(result.status),
        int(result.reject_reason),
        result.reject_message,
        result.filled_qty,
        result.remaining_qty,
        result.cancelled_qty,
        tuple((f.trade_id, f.price, f.qty, f.maker) for f in result.fills),
        result.seq,
        result.duplicate,
    )


def encode_reference(batch_id: int, answers: Sequence[Answer]) -> bytes:
    """``OrderBatchResult(batch_id, results=answers)`` serialized by the generated classes.

    Each result is built in place (``add``), not built and then copied into the batch.
    """
    out = tr.OrderBatchResult(batch_id=batch_id)
    add = out.results.add
    for (symbol, order_id, coid, status, reason, text, filled, remaining, cancelled, fills,
         seq, duplicate) in answers:  # fmt: skip
        result = add(
            symbol=symbol,
            order_id=order_id,
            client_order_id=coid,
            status=status,
            reject_reason=reason,
            reject_message=text,
            filled_qty=filled,
            remaining_qty=remaining,
            cancelled_qty=cancelled,
            seq=seq,
            duplicate=duplicate,
        )
        if fills:
            add_fill = result.fills.add
            for trade_id, price, qty, maker in fills:
                add_fill(trade_id=trade_id, price=price, qty=qty, maker=maker)
    return out.SerializeToString()


def encoder(core_name: str) -> Encoder:
    """The native core's encoder for ``core_name`` "native", else the reference one."""
    if core_name == NATIVE:
        native: Encoder = importlib.import_module(NATIVE_MODULE).encode_order_batch_result
        return native
    return encode_reference
