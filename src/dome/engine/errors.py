"""Errors the engine raises at its edge, and the one table that maps them to gRPC codes.

An order refused by an exchange rule is not an error (it is a normal ``OrderResult``
with a reject reason); these are for calls the engine will not serve at all. Servicers
wrap their bodies in ``guard`` (``dome.status_table``, the mechanism discovery uses too),
so every handler answers alike and nothing a caller sends can escape as an unhandled
exception.
"""

from __future__ import annotations

import logging

import grpc

from dome.status_table import StatusTable

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
STATUS_CODES: dict[type[Exception], grpc.StatusCode] = {
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


_TABLE = StatusTable(STATUS_CODES, log)


def status_code(exc: EngineError) -> grpc.StatusCode:
    """The status code for ``exc``, by its most specific class in the table."""
    return _TABLE.code(exc) or grpc.StatusCode.INTERNAL


#: Servicer bodies run inside it: ``async with guard(context, method, refused):``.
guard = _TABLE.guard
