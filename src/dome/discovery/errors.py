"""Errors discovery answers with, and the one table that maps them to gRPC codes.

Servicer bodies run inside ``guard`` (``dome.status_table``, the mechanism the engine
uses too), so every call answers alike and nothing a caller sends escapes as an
unhandled exception.
"""

from __future__ import annotations

import logging

import grpc

from dome.discovery.core import UnknownEngine
from dome.discovery.store import StoreError
from dome.status_table import StatusTable

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


_TABLE = StatusTable(STATUS_CODES, log, refusal_level=logging.DEBUG)


def status_code(exc: Exception) -> grpc.StatusCode | None:
    """The status code for ``exc`` by its most specific class, None when not ours."""
    return _TABLE.code(exc)


#: Servicer bodies run inside it: ``async with guard(context, method):``.
guard = _TABLE.guard
