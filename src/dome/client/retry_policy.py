"""Which failed calls the client repeats: by what the failure says about the first attempt.

A submit carries its client order id, so repeating it is always safe (the exchange
answers a repeated id with the original result); a read is safe by nature. A cancel or
an amend is repeated only where the failure proves the first attempt was not applied,
or, for a cancel in a cluster, where the repeat's answer is marked (``retried``) so that
UNKNOWN_ORDER reads "no longer open".
"""

from __future__ import annotations

import dataclasses

import grpc

from dome.client.models import OrderResult
from dome.core.types import RejectReason

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
NOT_PRIMARY = grpc.StatusCode.FAILED_PRECONDITION
#: The server shed the call (a full pending queue) or the transport dropped it.
CANCELLED = grpc.StatusCode.CANCELLED
#: Refused at admission (rate, message size, a full sequencer): surely not applied.
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
#: Failures after which a call that is safe to repeat (a submit, by its client order id;
#: a read) is tried again, in a cluster on the (next) primary.
REROUTE = frozenset({UNAVAILABLE, NOT_PRIMARY, CANCELLED, EXHAUSTED})
#: An amend is repeated only where it surely was not applied: re-applying "open quantity
#: N" after a fill in between would reopen quantity that already traded.
NOT_APPLIED = frozenset({NOT_PRIMARY, EXHAUSTED})
#: Where a single engine answers a cancel or amend: repeated only if refused at admission.
REFUSED = frozenset({EXHAUSTED})
#: Failures after which an earlier attempt may have been applied.
MAYBE_APPLIED = frozenset({UNAVAILABLE, CANCELLED})
#: Unary calls one client has in flight at most. A gRPC server queues the calls its
#: application has not picked up yet and sheds those beyond ``grpc.server.max_pending_requests``
#: (1,000 by default) with CANCELLED; one asyncio engine picks them up one at a time, so
#: a burst of 1,500 concurrent submits from one client lost some of them that way. The
#: engine now raises that queue and sheds typed itself (RESOURCE_EXHAUSTED, retried);
#: the window still keeps one client from filling an engine's calls-in-progress limit.
MAX_IN_FLIGHT = 256


#: What a cancel's repeat answers when the lost attempt had applied it.
_NO_LONGER_OPEN = frozenset({RejectReason.UNKNOWN_ORDER, RejectReason.TOO_LATE_TO_CANCEL})


def marked(result: OrderResult, uncertain: bool) -> OrderResult:
    """Flag a cancel's answer that may follow an applied attempt whose ack was lost."""
    if uncertain and result.reject_reason in _NO_LONGER_OPEN:
        return dataclasses.replace(result, retried=True)
    return result
