"""A batch's results as bytes (``dome.v1.BatchEffects``): the reference encoder and decoder.

The native core writes these bytes itself (``apply_batch_effects``,
``apply_encoded_effects``), without one Python object per event; this module is the
readable definition of what they hold, and writes the same bytes from the Python core's
results: each command's events, field for field, in order. ``encode`` of a batch's
``MarketResult``s and ``decode`` of its bytes are inverses, and ``encode`` of the Python
core's results equals the native core's bytes for the same commands (the lockstep tests
hold them to that). It lives in the engine, not the core, because the core is pure of
the wire (``tests/unit/test_core_purity.py``).

An event carries the sequence number of the command that caused it, so a command's
events are stored without it: they carry the command's own (``first_seq + i``), except
a duplicate's, which are its original's (``events_seq``).
"""

from __future__ import annotations

from collections.abc import Sequence

from dome.core.events import (
    CancelReason,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRejected,
    OrderRested,
    Trade,
)
from dome.core.market import MarketResult
from dome.core.types import OrderType, RejectReason, Side
from dome.v1 import effects_pb2 as fx


def encode(first_seq: int, results: Sequence[MarketResult]) -> bytes:
    """The ``BatchEffects`` bytes of ``results``, the i-th from the command at ``first_seq + i``."""
    batch = fx.BatchEffects(first_seq=first_seq)
    trades = events = 0
    for i, result in enumerate(results):
        command = batch.commands.add(duplicate=result.duplicate)
        if result.events and result.events[0].seq != first_seq + i:
            command.events_seq = result.events[0].seq
        for event in result.events:
            _encode_event(command.events.add(), event)
            trades += type(event) is Trade
        events += len(result.events)
    batch.trades = trades
    batch.events = events
    return batch.SerializeToString()


def decode(data: bytes) -> list[MarketResult]:
    """The ``MarketResult``s ``encode`` wrote into ``data``."""
    batch = fx.BatchEffects.FromString(data)
    results = []
    for i, command in enumerate(batch.commands):
        seq = command.events_seq or batch.first_seq + i
        events = tuple(_decode_event(seq, effect) for effect in command.events)
        results.append(MarketResult(events, command.duplicate))
    return results


def _encode_event(out: fx.Effect, ev: Event) -> None:
    if isinstance(ev, Trade):
        out.trade.SetInParent()
        t = out.trade
        t.trade_id, t.price, t.qty, t.aggressor = ev.trade_id, ev.price, ev.qty, ev.aggressor
        t.maker_order_id, t.maker_account = ev.maker_order_id, ev.maker_account
        t.maker_remaining, t.taker_order_id = ev.maker_remaining, ev.taker_order_id
        t.taker_account, t.taker_remaining = ev.taker_account, ev.taker_remaining
    elif isinstance(ev, OrderAccepted):
        out.accepted.SetInParent()
        a = out.accepted
        a.order_id, a.account, a.client_order_id = ev.order_id, ev.account, ev.client_order_id
        a.side, a.order_type, a.price, a.qty = ev.side, ev.order_type, ev.price, ev.qty
    elif isinstance(ev, OrderRested):
        out.rested.SetInParent()
        r = out.rested
        r.order_id, r.account, r.side = ev.order_id, ev.account, ev.side
        r.price, r.remaining = ev.price, ev.remaining
    elif isinstance(ev, OrderCancelled):
        out.cancelled.SetInParent()
        c = out.cancelled
        c.order_id, c.account, c.side, c.price = ev.order_id, ev.account, ev.side, ev.price
        c.cancelled_qty, c.reason, c.was_resting = ev.cancelled_qty, ev.reason, ev.was_resting
    elif isinstance(ev, OrderAmended):
        out.amended.SetInParent()
        m = out.amended
        m.order_id, m.account, m.side = ev.order_id, ev.account, ev.side
        m.old_price, m.old_remaining = ev.old_price, ev.old_remaining
        m.new_price, m.new_remaining = ev.new_price, ev.new_remaining
        m.priority_kept = ev.priority_kept
    elif isinstance(ev, OrderRejected):
        out.rejected.SetInParent()
        j = out.rejected
        j.order_id, j.account, j.client_order_id = ev.order_id, ev.account, ev.client_order_id
        j.reason = ev.reason
    else:  # pragma: no cover - the event types are closed
        raise TypeError(f"not an event: {ev!r}")


def _decode_event(seq: int, effect: fx.Effect) -> Event:
    kind = effect.WhichOneof("event")
    if kind == "trade":
        t = effect.trade
        return Trade(seq, t.trade_id, t.price, t.qty, Side(t.aggressor), t.maker_order_id,
                     t.maker_account, t.maker_remaining, t.taker_order_id, t.taker_account,
                     t.taker_remaining)  # fmt: skip
    if kind == "accepted":
        a = effect.accepted
        return OrderAccepted(seq, a.order_id, a.account, a.client_order_id, Side(a.side),
                             OrderType(a.order_type), a.price, a.qty)  # fmt: skip
    if kind == "rested":
        r = effect.rested
        return OrderRested(seq, r.order_id, r.account, Side(r.side), r.price, r.remaining)
    if kind == "cancelled":
        c = effect.cancelled
        return OrderCancelled(seq, c.order_id, c.account, Side(c.side), c.price,
                              c.cancelled_qty, CancelReason(c.reason), c.was_resting)  # fmt: skip
    if kind == "amended":
        m = effect.amended
        return OrderAmended(seq, m.order_id, m.account, Side(m.side), m.old_price,
                            m.old_remaining, m.new_price, m.new_remaining,
                            m.priority_kept)  # fmt: skip
    if kind == "rejected":
        j = effect.rejected
        return OrderRejected(seq, j.order_id, j.account, j.client_order_id,
                             RejectReason(j.reason))  # fmt: skip
    raise ValueError(f"an effect without an event at seq {seq}")
