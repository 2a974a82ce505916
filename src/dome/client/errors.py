"""The SDK's exceptions: one type per way a call can fail, mapped from gRPC codes in one table.

Callers (bots, the CLI) decide what to do by type, never by parsing messages: an
``AuthError`` means fix the token, an ``UnavailableError`` means the exchange could not be
reached before the deadline. Every exception the SDK raises is a ``DomeError``.

The one rule for which channel a failure takes:

* **Raised before sending** (``OrderValueError``, with the ``RejectReason`` the exchange
  would have given, or ``UnknownSymbolError``): what the client can judge without the
  exchange. A side or order type that is not one is always raised (it has no wire
  form). With ``check=True`` (the default) so is everything the instrument's rules
  decide: unknown symbol, a price off the tick grid or outside the band, a quantity off
  the lot grid, not positive, below ``min_qty`` or above ``max_qty``.
* **A REJECTED result** (``OrderResult.rejected``, ``reject_reason``): what the exchange
  judged, either from the book (post-only would take, FOK not fillable, self trade,
  unknown order) or, with ``check=False``, every value rule above.
* **Raised from the call** (``RpcError`` and its subclasses): the call did not complete
  (unreachable, refused credentials, limits). The SDK repeats what is safe to repeat
  (submits, by client order id; reads) after UNAVAILABLE, CANCELLED and
  RESOURCE_EXHAUSTED, with a doubling backoff, until ``retry_deadline``; what it raises
  is what was still failing then.
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
    """A limit was hit: rate, message size, open streams or calls in progress
    (RESOURCE_EXHAUSTED); ``details`` names the limit.

    The engine's defaults (docs/limits.md; ``dome engine --help`` sets them): 50,000
    commands per second per account (a token bucket with a burst of as many; a mass
    cancel counts one per order it cancels), 16 open streams per account, 1 MiB per
    request message, 20,000 unary calls in progress per engine (beyond, "engine busy
    ... retry with backoff"), 20,000 commands queued per account and symbol. Submits,
    reads and mass cancels are retried with backoff before this is raised.
    """


class CallCancelledError(RpcError):
    """The server or the transport dropped the call (CANCELLED), not the caller.

    The engine sheds calls it has no room for typed (``RateLimitedError``); CANCELLED
    comes from a transport that dropped the call (or an engine older than that). The
    command may or may not have been applied: submits are retried by client order id;
    a cancel or amend that raises this must be checked.
    """


class HistoryUnavailableError(RpcError):
    """A resume asked for reports the engine no longer holds (OUT_OF_RANGE)."""


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
    grpc.StatusCode.CANCELLED: CallCancelledError,
    grpc.StatusCode.OUT_OF_RANGE: HistoryUnavailableError,
}


def from_grpc(exc: grpc.RpcError) -> RpcError:
    """The typed SDK error for a gRPC failure."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    return from_status(code, details)


def from_status(code: grpc.StatusCode, details: str) -> RpcError:
    """The typed SDK error for a status code and its message."""
    return _BY_CODE.get(code, RpcError)(code, details)
