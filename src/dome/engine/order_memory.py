"""What the engine remembers of orders after they leave the book, and the rejects it refines.

The book knows only resting orders: a cancel of one that filled a moment ago and a
cancel of an id that never existed both come out of it as UNKNOWN_ORDER, and the
idempotency window answers any repeat of a client order id with the original result,
whatever the repeat asks for. A trader needs to tell these apart, so this stage, which
runs first among a symbol's publish sinks, rewrites three answers:

* a cancel or amend of one of the caller's own orders that was accepted and is no longer
  open: TOO_LATE_TO_CANCEL (an id the caller never had keeps UNKNOWN_ORDER; another
  account's closed order stays UNKNOWN_ORDER too, so nothing leaks);
* a repeated client order id whose side, type, price or quantity differ from the
  original's: CLIENT_ORDER_ID_REUSED, booking nothing. The same parameters keep the
  original result (``duplicate``). Self-trade prevention is not compared (the original's
  events do not record it), and a repeat of an id whose original was rejected keeps
  that reject whatever it asks (nothing was booked, and its parameters are not kept);
* and it resolves a cancel's client order id to the order id (``order_id_of``), at
  admission, so the log holds only plain cancels.

It is a pure function of the applied commands, like the book (``OrderMemory.state`` goes
into snapshots beside the execution reporter's), so every replica rewrites alike and a
promoted follower answers as the old primary did. The book cores are left alone: the
rule needs a memory of closed orders, which would otherwise enter both cores' snapshot
formats and state hashes; here one implementation serves both cores.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from dome.core.commands import AmendOrder, CancelOrder, NewOrder
from dome.core.events import OrderAccepted, OrderRejected
from dome.core.market import MarketResult
from dome.core.types import RejectReason
from dome.engine.applier import Applied

#: Accepted orders remembered per symbol: a cancel of an older closed order gets
#: UNKNOWN_ORDER again, and cancel by client order id no longer finds it.
DEFAULT_ORDERS = 100_000

_UNKNOWN = RejectReason.UNKNOWN_ORDER
_TOO_LATE = RejectReason.TOO_LATE_TO_CANCEL
_REUSED = RejectReason.CLIENT_ORDER_ID_REUSED


class OrderMemory:
    """The accepted orders of one symbol, newest last: id -> (account, client order id).

    >>> from dome.core.types import OrderType, Side
    >>> memory = OrderMemory()
    >>> accepted = OrderAccepted(1, 1, "alice", "a-1", Side.BUY, OrderType.LIMIT, 100, 5)
    >>> memory.remember(accepted)
    >>> memory.order_id_of("alice", "a-1"), memory.order_id_of("bob", "a-1")
    (1, 0)
    """

    def __init__(self, capacity: int = DEFAULT_ORDERS) -> None:
        self.capacity = max(1, capacity)
        self._orders: OrderedDict[int, tuple[str, str]] = OrderedDict()
        self._by_client_id: dict[tuple[str, str], int] = {}

    def remember(self, accepted: OrderAccepted) -> None:
        """Note an accepted order; the oldest is forgotten beyond ``capacity``."""
        key = (accepted.account, accepted.client_order_id)
        self._orders[accepted.order_id] = key
        if accepted.client_order_id:
            self._by_client_id[key] = accepted.order_id
        while len(self._orders) > self.capacity:
            _, old = self._orders.popitem(last=False)
            self._forget_client_id(old)

    def _forget_client_id(self, key: tuple[str, str]) -> None:
        if key[1] and key in self._by_client_id:
            order_id = self._by_client_id[key]
            if order_id not in self._orders:
                del self._by_client_id[key]

    def order_id_of(self, account: str, client_order_id: str) -> int:
        """The id of the account's remembered order with this client order id (0: none)."""
        return self._by_client_id.get((account, client_order_id), 0)

    def owner(self, order_id: int) -> tuple[str, str] | None:
        """(account, client order id) of a remembered order."""
        return self._orders.get(order_id)

    # ---------------------------------------------------------------- the sink

    def publish(self, batch: Sequence[Applied], match_seconds: float | None) -> None:
        """The first publish sink: refine the batch's rejects, then remember its orders."""
        for applied in batch:
            cmd = applied.cmd
            result = applied.result
            events = result.events
            kind = type(cmd)
            if kind is NewOrder:
                if result.duplicate:
                    assert isinstance(cmd, NewOrder)
                    if _differs(cmd, events):
                        applied.result = MarketResult(
                            (
                                OrderRejected(
                                    cmd.seq, cmd.order_id, cmd.account, cmd.client_order_id, _REUSED
                                ),
                            ),
                            False,
                        )
                    continue
                if events and type(events[0]) is OrderAccepted:
                    first = events[0]
                    assert isinstance(first, OrderAccepted)
                    self.remember(first)
            elif kind is CancelOrder or kind is AmendOrder:
                if len(events) != 1 or type(events[0]) is not OrderRejected:
                    continue
                ev = events[0]
                assert isinstance(ev, OrderRejected)
                if ev.reason != _UNKNOWN:
                    continue
                known = self._orders.get(cmd.order_id)
                if known is not None and known[0] == cmd.account:
                    applied.result = MarketResult(
                        (ev._replace(client_order_id=known[1], reason=_TOO_LATE),), False
                    )

    # --------------------------------------------------------------- snapshots

    def state(self) -> list[list[Any]]:
        """The remembered orders, oldest first, as JSON-able rows."""
        return [[order_id, account, cid] for order_id, (account, cid) in self._orders.items()]

    def restore(self, rows: Sequence[Sequence[Any]]) -> None:
        """Continue from ``state()``; rows beyond ``capacity`` keep the newest."""
        self._orders = OrderedDict()
        self._by_client_id = {}
        for order_id, account, cid in rows[-self.capacity :]:
            self._orders[int(order_id)] = (str(account), str(cid))
            if cid:
                self._by_client_id[(str(account), str(cid))] = int(order_id)


def _differs(cmd: NewOrder, original: Sequence[object]) -> bool:
    """Whether a repeat asks for another order than the one its id first placed."""
    first = original[0] if original else None
    if type(first) is not OrderAccepted:
        return False  # rejected first time: nothing booked, its parameters not kept
    assert isinstance(first, OrderAccepted)
    return (int(first.side), int(first.order_type), first.price, first.qty) != (
        int(cmd.side),
        int(cmd.order_type),
        cmd.price,
        cmd.qty,
    )
