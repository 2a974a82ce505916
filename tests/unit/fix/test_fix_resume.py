"""A desk resumes its account's reports exactly: nothing lost, nothing sent twice.

A fake client stands for the exchange (it records the ``resume`` positions it was asked
for and replays reports after them) and a fake outbox for the FIX session. The state file
is real (SQLite in a temporary directory), and so is the desk.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from dome.client import Client
from dome.client.models import ExecType, Execution, Fill
from dome.core.types import OrderStatus, Side
from dome.fix import tags as t
from dome.fix.desk import Desk
from dome.fix.orders import Fields, Group
from dome.fix.state import GatewayState, SentMark
from waiting import eventually

D = Decimal


def report(seq: int, kind: ExecType, remaining: str, fill: str | None = None) -> Execution:
    return Execution(
        symbol="XYZ",
        seq=seq,
        prev_seq=0,
        timestamp_ns=1_700_000_000_000_000_000,
        exec_type=kind,
        order_id=7,
        client_order_id="sdk-1",
        side=Side.SELL,
        status=OrderStatus.NEW,
        price=D(100),
        remaining_qty=D(remaining),
        fill=Fill(seq, D(100), D(fill), True) if fill else None,
        cancelled_qty=D(0),
        reject_reason=None,
    )


#: The account's reports on XYZ, as the exchange holds them.
HISTORY = [
    report(1, ExecType.NEW, "5"),
    report(2, ExecType.TRADE, "4", "1"),
    report(3, ExecType.TRADE, "2", "2"),
    report(3, ExecType.TRADE, "1", "1"),  # two fills of one command share a seq
]


class FakeClient:
    """Replays HISTORY[:upto] after the asked-for positions (as the engine does)."""

    def __init__(self, upto: int) -> None:
        self.upto = upto
        self.resume: Mapping[str, tuple[int, int]] | None = None

    async def connect(self) -> None:
        pass

    async def instruments(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        pass

    async def subscribe_executions(
        self, resume: Mapping[str, tuple[int, int]] | None = None
    ) -> AsyncIterator[Execution]:
        self.resume = dict(resume) if resume else None
        seq, count = (resume or {}).get("XYZ", (0, 0))
        held = [r for r in HISTORY[: self.upto] if r.seq >= seq]
        skip = count

        async def stream() -> AsyncIterator[Execution]:
            nonlocal skip
            for item in held:
                if item.seq == seq and skip:
                    skip -= 1
                    continue
                yield item
            await asyncio.Event().wait()  # live: nothing more

        return stream()


class FakeOutbox:
    def __init__(self) -> None:
        self.sent: list[Fields] = []

    def send(self, msg_type: str, fields: Fields, groups: Sequence[Group] = ()) -> None:
        self.sent.append(fields)

    def mark(self) -> SentMark:
        return SentMark(len(self.sent) + 1, "birth")


def exec_ids(outbox: FakeOutbox) -> list[str]:
    return [dict(f)[t.EXEC_ID] for f in outbox.sent]


async def run_desk(path: Path, upto: int, already_sent: set[str]) -> tuple[FakeOutbox, Any]:
    state = GatewayState(path)
    client, outbox = FakeClient(upto), FakeOutbox()
    desk = await Desk.open("alice", cast(Client, client), state, outbox, already_sent)
    try:
        await eventually(lambda: _handled(state, upto), 5, "the pump to handle every report")
    finally:
        await desk.close()
        state.close()
    return outbox, client.resume


def _handled(state: GatewayState, upto: int) -> bool:
    positions = state.load("alice").positions
    last = HISTORY[upto - 1]
    same_seq = sum(1 for r in HISTORY[:upto] if r.seq == last.seq)
    return positions.get("XYZ") == (last.seq, same_seq)


async def test_a_restart_resumes_after_the_last_report_handled(tmp_path: Path) -> None:
    path = tmp_path / "gateway.sqlite"
    first, _ = await run_desk(path, 3, set())
    assert exec_ids(first) == ["XYZ:1:0", "XYZ:2:0", "XYZ:3:0"]
    # Restarted: the stream resumes after (seq 3, 1 report); only the new one is sent.
    second, resume = await run_desk(path, 4, set())
    assert resume == {"XYZ": (3, 1)}
    assert exec_ids(second) == ["XYZ:3:1"]
    fill = dict(second.sent[0])
    assert fill[t.CUM_QTY] == "4"
    assert fill[t.LEAVES_QTY] == "1"
    assert fill[t.ORD_STATUS] == "1"


async def test_reports_sent_before_a_crash_are_applied_not_resent(tmp_path: Path) -> None:
    path = tmp_path / "gateway.sqlite"
    await run_desk(path, 2, set())
    # Say the gateway died after sending XYZ:3:0 but before writing its position: the
    # session's store holds it (``already_sent``), so it is applied silently.
    second, _ = await run_desk(path, 4, {"XYZ:3:0"})
    assert exec_ids(second) == ["XYZ:3:1"]
    assert dict(second.sent[0])[t.CUM_QTY] == "4"  # the silent one counted
