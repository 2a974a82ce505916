"""Errors discovery answers with, and the one table that maps them to gRPC codes.

Servicer bodies run inside ``guard``, so every call answers alike and nothing a
caller sends escapes as an unhandled exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc

from dome.discovery.core import UnknownEngine
from dome.discovery.store import StoreError

log = logging.getLogger("dome.discovery")


class DiscoveryError(Exception):
    """Base of the errors raised at discovery's edge; the message goes to the caller."""


class InvalidArgument(DiscoveryError):
    """A call is malformed (an empty engine id, an unknown acks mode)."""


class SlowWatcher(DiscoveryError):
    """A placement watcher fell so far behind that its buffer overflowed; watch again."""


class Unavailable(DiscoveryError):
    """Discovery is shutting down."""


#: The one place that decides which status code each error gets.
STATUS_CODES: dict[type[Exception], grpc.StatusCode] = {
    UnknownEngine: grpc.StatusCode.NOT_FOUND,
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    SlowWatcher: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    StoreError: grpc.StatusCode.UNAVAILABLE,
}


def status_code(exc: Exception) -> grpc.StatusCode | None:
    """The status code for ``exc`` by its most specific class, None when not ours."""
    for cls in type(exc).__mro__:
        code = STATUS_CODES.get(cls)
        if code is not None:
            return code
    return None


@asynccontextmanager
async def guard(context: grpc.aio.ServicerContext[Any, Any], method: str) -> AsyncIterator[None]:
    """Turn whatever a handler body raises into a status, logging what is unexpected."""
    try:
        yield
    except (asyncio.CancelledError, grpc.aio.AbortError):
        raise
    except Exception as exc:
        code = status_code(exc)
        if code is None:
            log.exception("handler failed", extra={"method": method})
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        log.debug("call refused", extra={"method": method, "code": code.name, "error": str(exc)})
        await context.abort(code, str(exc))
