"""The SDK's exceptions: one type per way a call can fail, mapped from gRPC codes in one table.

Callers (bots, the CLI) decide what to do by type, never by parsing messages: an
``AuthError`` means fix the token, an ``UnavailableError`` means the exchange could not be
reached before the deadline. An order refused by an exchange rule is *not* an exception:
it is a normal result with status REJECTED. Values the client can tell are wrong before
sending (off the tick grid, unknown symbol) raise ``OrderValueError`` locally.
"""

from __future__ import annotations

import grpc

from dome.core.types import RejectReason


class DomeError(Exception):
    """Base of every error the SDK raises."""


class RpcError(DomeError):
    """A gRPC call failed; ``code`` is the status code and ``details`` the server's text."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name.lower()}: {details}" if details else code.name.lower())
        self.code = code
        self.details = details


class UnavailableError(RpcError):
    """The exchange could not be reached or did not answer before the deadline."""


class AuthError(RpcError):
    """The token is missing or unknown (UNAUTHENTICATED)."""


class PermissionDeniedError(RpcError):
    """The account may not do this (PERMISSION_DENIED)."""


class InvalidRequestError(RpcError):
    """The request was malformed (INVALID_ARGUMENT)."""


class NotFoundError(RpcError):
    """The symbol or object does not exist here (NOT_FOUND)."""


class NotPrimaryError(RpcError):
    """This engine does not sequence the symbol (FAILED_PRECONDITION); details name the primary."""


class RateLimitedError(RpcError):
    """A limit was hit: rate, message size or open streams (RESOURCE_EXHAUSTED)."""


class OrderValueError(DomeError, ValueError):
    """A price or quantity that cannot be sent: not a number or off the instrument's grid."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class UnknownSymbolError(DomeError, KeyError):
    """The exchange lists no instrument with this symbol."""

    def __str__(self) -> str:
        return f"unknown symbol {self.args[0]!r}"


_BY_CODE: dict[grpc.StatusCode, type[RpcError]] = {
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: UnavailableError,
    grpc.StatusCode.UNAUTHENTICATED: AuthError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.FAILED_PRECONDITION: NotPrimaryError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimitedError,
}


def from_grpc(exc: grpc.RpcError) -> RpcError:
    """The typed SDK error for a gRPC failure."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    return from_status(code, details)


def from_status(code: grpc.StatusCode, details: str) -> RpcError:
    """The typed SDK error for a status code and its message."""
    return _BY_CODE.get(code, RpcError)(code, details)
