"""Differential test: DOME's books and liquibook must make the same trades.

liquibook (C++, via its SWIG wrapper) is an independent, widely used matcher with the
same price-time priority. Every order comes from its own account, so DOME's self-trade
prevention never applies and the two must agree fill for fill on seeded random flow.

liquibook facts this relies on, found by experiment with liquibook 2.0.1 (see the tests
at the bottom, which pin them so an upgrade that changes them fails loudly here):

* ``on_fill(order, matched_order, qty, price)``: the first argument is the incoming
  (aggressor) order, the second the resting one, and the last is the trade *price*, not
  qty * price.
* IOC and FOK are conditions of ``book.add(order, conditions)``; passed to the
  ``SimpleOrder`` constructor instead they are silently ignored and the order rests.
  With them, an unfilled IOC remainder and an unfillable FOK get ``on_cancel``.
* Cancelling an order that is filled or already cancelled gets ``on_cancel_reject``.
* ``SimpleOrder`` ids come from a process-wide counter, hence the id map below.
"""

from __future__ import annotations

import random
from typing import Any, NamedTuple

import pytest
from book_helpers import IMPLEMENTATIONS, BookFactory, fills

from dome.core.commands import CancelOrder, NewOrder
from dome.core.events import Event, OrderCancelled, OrderRejected
from dome.core.instrument import Instrument
from dome.core.types import OrderType, RejectReason, Side

liquibook: Any = pytest.importorskip("liquibook", reason="the differential test needs liquibook")

MID = 10_000
INSTRUMENT = Instrument("LQB")

Fill = tuple[int, int, int, int]  # maker id, taker id, price, qty


class Op(NamedTuple):
    """One step of the random flow: an order to place, or a cancel of an earlier order."""

    order_id: int
    is_buy: bool
    price: int
    qty: int
    order_type: OrderType
    #: For cancels: the order to cancel (``order_type`` is then irrelevant).
    cancel_of: int | None = None


def random_flow(seed: int, count: int) -> list[Op]:
    """Limit orders around MID, some IOC and FOK, and ~10% cancels of earlier orders."""
    rng = random.Random(seed)
    ops: list[Op] = []
    placed: list[int] = []
    for order_id in range(1, count + 1):
        if placed and rng.random() < 0.10:
            target = rng.choice(placed[-200:])
            ops.append(Op(order_id, False, 0, 0, OrderType.LIMIT, cancel_of=target))
            continue
        kind = rng.random()
        order_type = (
            OrderType.IOC if kind < 0.15 else OrderType.FOK if kind < 0.20 else OrderType.LIMIT
        )
        ops.append(
            Op(
                order_id,
                rng.random() < 0.5,
                MID + rng.randint(-20, 20),
                rng.randint(1, 100),
                order_type,
            )
        )
        placed.append(order_id)
    return ops


class Outcomes(NamedTuple):
    fills: list[Fill]
    #: Order ids whose (remaining) quantity was cancelled, in order: requested cancels
    #: and IOC/FOK leftovers alike.
    cancelled: list[int]
    #: Cancel requests that were refused (order no longer open).
    cancel_refused: list[int]


def run_dome(factory: BookFactory, ops: list[Op]) -> Outcomes:
    book = factory(INSTRUMENT)
    result = Outcomes([], [], [])
    for seq, op in enumerate(ops, start=1):
        events: list[Event]
        if op.cancel_of is not None:
            events = book.apply(CancelOrder(seq, 0, f"acct{op.cancel_of}", op.cancel_of))
            if isinstance(events[0], OrderRejected):
                result.cancel_refused.append(op.cancel_of)
        else:
            side = Side.BUY if op.is_buy else Side.SELL
            events = book.apply(
                NewOrder(
                    seq,
                    0,
                    op.order_id,
                    f"acct{op.order_id}",
                    "",
                    side,
                    op.order_type,
                    op.price,
                    op.qty,
                )
            )
            if isinstance(events[0], OrderRejected):
                # DOME refuses an unfillable FOK outright; liquibook accepts, then cancels
                assert events[0].reason == RejectReason.FOK_NOT_FILLABLE, events
                result.cancelled.append(op.order_id)
        result.fills.extend(fills(events))
        result.cancelled.extend(e.order_id for e in events if isinstance(e, OrderCancelled))
        if seq % 1_000 == 0:
            book.check_invariants()
    book.check_invariants()
    return result


def run_liquibook(ops: list[Op]) -> Outcomes:
    our_id: dict[int, int] = {}
    result = Outcomes([], [], [])

    class Listener(liquibook.OrderListener):  # type: ignore[misc]
        def on_accept(self, order: Any) -> None:
            pass

        def on_reject(self, order: Any, reason: str) -> None:
            raise AssertionError(f"liquibook rejected {our_id[order.order_id_]}: {reason}")

        def on_fill(self, order: Any, matched_order: Any, qty: int, price: int) -> None:
            result.fills.append(
                (our_id[matched_order.order_id_], our_id[order.order_id_], price, qty)
            )

        def on_cancel(self, order: Any) -> None:
            result.cancelled.append(our_id[order.order_id_])

        def on_cancel_reject(self, order: Any, reason: str) -> None:
            result.cancel_refused.append(our_id[order.order_id_])

        def on_replace(self, order: Any, size_delta: int, new_price: int) -> None:
            raise AssertionError("no replaces are sent")

        def on_replace_reject(self, order: Any, reason: str) -> None:
            raise AssertionError("no replaces are sent")

    conditions = {
        OrderType.LIMIT: liquibook.oc_no_conditions,
        OrderType.IOC: liquibook.oc_immediate_or_cancel,
        OrderType.FOK: liquibook.oc_fill_or_kill,
    }
    book = liquibook.DepthOrderBook()
    listener = Listener()
    book.set_order_listener(listener)
    orders: dict[int, Any] = {}
    for op in ops:
        if op.cancel_of is not None:
            book.cancel(orders[op.cancel_of])
            continue
        order = liquibook.SimpleOrder(op.is_buy, op.price, op.qty)
        our_id[order.order_id_] = op.order_id
        orders[op.order_id] = order
        book.add(order, conditions[op.order_type])
    return result


IMPLEMENTATION_PARAMS = [
    pytest.param(
        factory,
        id=name,
        marks=pytest.mark.skipif(factory is None, reason=f"the {name} core is not built"),
    )
    for name, factory in IMPLEMENTATIONS.items()
]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("factory", IMPLEMENTATION_PARAMS)
def test_same_trades_as_liquibook(factory: BookFactory, seed: int) -> None:
    ops = random_flow(seed, 12_000)
    theirs = run_liquibook(ops)
    ours = run_dome(factory, ops)
    assert len(theirs.fills) > 2_000, "the flow should trade a lot"
    assert ours.fills == theirs.fills
    assert ours.cancelled == theirs.cancelled
    assert ours.cancel_refused == theirs.cancel_refused


# ------------------------------------------------------------------ liquibook facts relied on


def _trace(specs: list[tuple[bool, int, int, int]]) -> list[tuple[str, ...]]:
    """Run ``(is_buy, price, qty, conditions)`` orders; our ids are 1, 2, ... in order."""
    trace: list[tuple[str, ...]] = []
    ids: dict[int, str] = {}

    class Listener(liquibook.OrderListener):  # type: ignore[misc]
        def on_accept(self, order: Any) -> None:
            trace.append(("accept", ids[order.order_id_]))

        def on_fill(self, order: Any, matched_order: Any, qty: int, price: int) -> None:
            trace.append(
                ("fill", ids[order.order_id_], ids[matched_order.order_id_], f"{qty}@{price}")
            )

        def on_cancel(self, order: Any) -> None:
            trace.append(("cancel", ids[order.order_id_]))

    book = liquibook.DepthOrderBook()
    listener = Listener()
    book.set_order_listener(listener)
    for n, (is_buy, price, qty, conditions) in enumerate(specs, start=1):
        order = liquibook.SimpleOrder(is_buy, price, qty)
        ids[order.order_id_] = str(n)
        book.add(order, conditions)
    return trace


def test_liquibook_fill_callback_names_the_aggressor_first_and_passes_the_price() -> None:
    assert _trace([(False, 101, 5, 0), (True, 103, 3, 0)]) == [
        ("accept", "1"),
        ("accept", "2"),
        ("fill", "2", "1", "3@101"),
    ]


def test_liquibook_ioc_and_fok_conditions_given_to_add() -> None:
    ioc, fok = liquibook.oc_immediate_or_cancel, liquibook.oc_fill_or_kill
    assert _trace([(False, 101, 5, 0), (True, 103, 7, ioc), (True, 103, 7, fok)]) == [
        ("accept", "1"),
        ("accept", "2"),
        ("fill", "2", "1", "5@101"),
        ("cancel", "2"),
        ("accept", "3"),
        ("cancel", "3"),
    ]
