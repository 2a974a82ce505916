"""Scenario scripts for the book contract: commands, the events each owes, the ladder.

A scenario is a short text, one line each, so a table of them reads like docs/book.md::

    sell 1 alice 100 5                 a command (see below)
      > accepted 2 bob BUY LIMIT 8@100  the events of the command above, exactly, in order
    = bid 100 | 2 bob 3                 the book now (consecutive ``=`` lines: one ladder)

Commands: ``buy|sell ID ACCOUNT PRICE QTY [TYPE] [STP] [cid=X]`` (LIMIT and
CANCEL_RESTING by default), ``cancel ACCOUNT ID`` and ``amend ACCOUNT ID [qty=N]
[price=N]``. A command prefixed with ``!`` must be rejected and change nothing but
``last_seq`` (``Session.expect_untouched``). A command without ``>`` lines is set-up: its
events are not compared, though the session still checks seq stamping and
``check_invariants()`` after it, as after every command.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from book_helpers import Session, table

from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.types import OrderType, SelfTradePrevention, Side

_SIDES = {"buy": Side.BUY, "sell": Side.SELL}


def scenario(name: str, script: str) -> object:
    """One row of a scenario table: ``script`` under a pytest id made of ``name``."""
    return pytest.param(script, id=name.replace(" ", "-"))


def command(line: str) -> Callable[[int], Command]:
    """The command a script line names, as ``Session.run`` takes it (seq in, command out)."""
    verb, *words = line.split()
    options = dict(w.split("=", 1) for w in words if "=" in w)
    args = [w for w in words if "=" not in w]
    if verb in _SIDES:
        order_id, account, price, qty = int(args[0]), args[1], int(args[2]), int(args[3])
        order_type = OrderType[args[4]] if len(args) > 4 else OrderType.LIMIT
        stp = SelfTradePrevention[args[5]] if len(args) > 5 else SelfTradePrevention.CANCEL_RESTING
        cid = options.get("cid", "")
        side = _SIDES[verb]
        return lambda seq: NewOrder(
            seq, seq * 1000, order_id, account, cid, side, order_type, price, qty, stp
        )
    if verb == "cancel":
        account, order_id = args[0], int(args[1])
        return lambda seq: CancelOrder(seq, seq * 1000, account, order_id)
    if verb == "amend":
        account, order_id = args[0], int(args[1])
        qty, price = int(options.get("qty", 0)), int(options.get("price", 0))
        return lambda seq: AmendOrder(seq, seq * 1000, account, order_id, qty, price)
    raise ValueError(f"not a script command: {line!r}")


def play(session: Session, script: str) -> None:
    """Run ``script`` on ``session``, asserting every ``>`` and ``=`` line it holds."""
    lines = [line.strip() for line in script.strip().splitlines() if line.strip()]
    at = 0
    while at < len(lines):
        line = lines[at]
        if line.startswith("="):
            rows = []
            while at < len(lines) and lines[at].startswith("="):
                rows.append(lines[at][1:])
                at += 1
            assert session.table() == table("\n".join(rows)), f"book before line {at + 1}"
            continue
        untouched = line.startswith("!")
        make = command(line.lstrip("! "))
        got = session.expect_untouched(make) if untouched else session.run(make)
        at += 1
        expected = []
        while at < len(lines) and lines[at].startswith(">"):
            expected.append(lines[at][1:].strip())
            at += 1
        if expected or untouched:
            assert got == expected, line
