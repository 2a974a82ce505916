"""Errors the engine raises at its edge, and the one table that maps them to gRPC codes.

An order refused by an exchange rule is not an error (it is a normal ``OrderResult``
with a reject reason); these are for calls the engine will not serve at all. Servicers
wrap their bodies in ``guard``, so every handler answers alike and nothing a caller
sends can escape as an unhandled exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc

log = logging.getLogger("dome.engine")


class EngineError(Exception):
    """Base of every error that becomes a gRPC status; the message goes to the caller."""


class Unauthenticated(EngineError):
    """No bearer token, or one that names no account."""


class RateLimited(EngineError):
    """The account sent more commands than its rate allows."""


class TooManyStreams(EngineError):
    """The account (or the public) holds as many open streams as allowed."""


class SlowConsumer(EngineError):
    """A subscriber fell so far behind that its buffer overflowed; it must resubscribe."""


class Overloaded(EngineError):
    """A symbol's sequencer has more pending commands than it accepts."""


class NotFound(EngineError):
    """A query named a symbol that is not traded here."""


class InvalidArgument(EngineError):
    """A call is malformed in a way no reject reason describes."""


class OutOfRange(EngineError):
    """A stream was asked to resume from a position this engine no longer holds."""


class Unavailable(EngineError):
    """The engine cannot serve the call now: shutting down, fenced, or no primary elected."""


class NotPrimary(EngineError):
    """The call needs the symbol's primary, and this engine is not it (the message names it)."""


#: The one place that decides which status code each error gets.
STATUS_CODES: dict[type[EngineError], grpc.StatusCode] = {
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    TooManyStreams: grpc.StatusCode.RESOURCE_EXHAUSTED,
    SlowConsumer: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    NotFound: grpc.StatusCode.NOT_FOUND,
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    NotPrimary: grpc.StatusCode.FAILED_PRECONDITION,
    OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
}


def status_code(exc: EngineError) -> grpc.StatusCode:
    """The status code for ``exc``, by its most specific class in the table."""
    for cls in type(exc).__mro__:
        code = STATUS_CODES.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


@asynccontextmanager
async def guard(
    context: grpc.aio.ServicerContext[Any, Any], method: str, refused: Any = None
) -> AsyncIterator[None]:
    """Turn whatever a handler body raises into a status, logging what is unexpected.

    ``refused`` is a counter labelled by status code, counting calls refused here.
    """
    try:
        yield
    except EngineError as exc:
        code = status_code(exc)
        log.info("call refused", extra={"method": method, "code": code.name, "error": str(exc)})
        if refused is not None:
            refused.labels(code.name.lower()).inc()
        await context.abort(code, str(exc))
    except (asyncio.CancelledError, grpc.aio.AbortError):
        raise
    except Exception:
        log.exception("handler failed", extra={"method": method})
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")
