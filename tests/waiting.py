"""Waiting on a condition with a deadline: the polling helpers of every test folder.

Tests never sleep and hope; they poll what they wait for and fail, naming it, when the
deadline passes. Each poll may be an RPC, so the interval is the caller's choice.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None],
    timeout: float,
    what: str | Callable[[], str],
    *,
    interval: float = 0.02,
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s.

    ``what`` names it in the failure; a callable is asked then, so it can say what was
    still missing at the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {_named(what)}")
        time.sleep(interval)


async def eventually(
    condition: Callable[[], T | Awaitable[T | None] | None],
    within: float,
    what: str | Callable[[], str],
    *,
    interval: float = 0.02,
) -> T:
    """``wait_for`` for coroutines: ``condition`` may return a value or an awaitable."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {_named(what)}")
        await asyncio.sleep(interval)  # a polling interval; the deadline bounds the wait


def _named(what: str | Callable[[], str]) -> str:
    return what if isinstance(what, str) else what()
