"""Cancel-on-disconnect sessions: grace, reopen, sweep, and who is left alone."""

from __future__ import annotations

import asyncio

import pytest

from dome.engine.errors import InvalidArgument
from dome.engine.sessions import DEFAULT_GRACE, MAX_GRACE, Sessions
from waiting import eventually


class Cancels:
    """A fake ``cancel_all``: records whose orders it was asked to cancel."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, account: str) -> int:
        self.calls.append(account)
        return 1


async def test_a_gone_cod_session_is_swept_after_its_grace() -> None:
    cancels = Cancels()
    sessions = Sessions(cancels, sweep_for=0.2, sweep_every=0.01)
    sessions.open("alice", "s1", True, 0.01)
    sessions.close("alice", "s1")
    await eventually(lambda: cancels.calls, 5, "the sweep")
    assert set(cancels.calls) == {"alice"}


async def test_reopening_within_the_grace_keeps_the_orders() -> None:
    cancels = Cancels()
    sessions = Sessions(cancels)
    sessions.open("alice", "s1", True, 30.0)
    sessions.close("alice", "s1")
    (pending,) = [s.expiry for s in sessions._sessions.values()]
    assert pending is not None
    sessions.open("alice", "s1", True, 30.0)
    await asyncio.sleep(0)  # let the cancellation land
    assert pending.cancelled()
    assert sessions.attended("alice")


async def test_without_cod_or_with_another_session_nothing_is_cancelled() -> None:
    cancels = Cancels()
    sessions = Sessions(cancels, sweep_for=0.2, sweep_every=0.01)
    sessions.open("bob", "plain", False, 0.01)
    sessions.close("bob", "plain")
    assert not sessions._sessions  # forgotten at once: nothing to enforce
    sessions.open("carol", "a", True, 0.01)
    sessions.open("carol", "b", False, 0.01)
    sessions.close("carol", "a")
    (expiry,) = [s.expiry for s in sessions._sessions.values() if s.expiry is not None]
    await expiry  # grace over; carol still holds session b, so her orders are attended
    assert cancels.calls == []


def test_bounds() -> None:
    assert Sessions.grace_of(0) == DEFAULT_GRACE
    assert Sessions.grace_of(10**9) == MAX_GRACE
    sessions = Sessions(Cancels())
    with pytest.raises(InvalidArgument):
        sessions.open("alice", "", True, 1.0)
    with pytest.raises(InvalidArgument):
        sessions.open("alice", "x" * 65, True, 1.0)
