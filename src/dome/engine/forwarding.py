"""Forward orders for symbols this engine does not lead to their primary.

Any engine takes any order (DESIGN.md section 3); the SDK routes straight to primaries,
so this is the path of plain gRPC clients and of SDKs with a stale placement. The
forwarded call carries the account's own token (every engine reads one accounts file)
and a marker: an engine that receives a forwarded call it cannot serve answers
FAILED_PRECONDITION instead of forwarding again, so two engines with different views of
placement never bounce a call between them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import grpc

from dome.engine.errors import EngineError, NotPrimary, Overloaded, Unavailable
from dome.engine.peers import Peers
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc

#: Metadata key marking a call one engine forwarded to another.
FORWARDED = "x-dome-forwarded"
#: Deadline of one forwarded call, seconds.
FORWARD_TIMEOUT = 5.0


class Forwarder:
    """Sends one account's actions for one symbol to that symbol's primary."""

    def __init__(self, peers: Peers, tokens: Mapping[str, str]) -> None:
        self._peers = peers
        self._tokens = tokens

    async def forward(
        self, primary_id: str, account: str, actions: Sequence[tr.OrderAction]
    ) -> list[tr.OrderResult]:
        """The primary's results for ``actions``, in order."""
        token = self._tokens.get(account)
        if token is None:
            raise Unavailable(f"cannot forward for account {account!r}: no token known")
        stub = tr_grpc.TradingServiceStub(self._peers.channel(primary_id))
        metadata = (("authorization", f"Bearer {token}"), (FORWARDED, "1"))
        results: list[tr.OrderResult] = []
        try:
            for action in actions:
                kind = action.WhichOneof("action")
                if kind == "submit":
                    result = await stub.SubmitOrder(
                        action.submit, metadata=metadata, timeout=FORWARD_TIMEOUT
                    )
                elif kind == "cancel":
                    result = await stub.CancelOrder(
                        action.cancel, metadata=metadata, timeout=FORWARD_TIMEOUT
                    )
                else:
                    result = await stub.AmendOrder(
                        action.amend, metadata=metadata, timeout=FORWARD_TIMEOUT
                    )
                results.append(result)
        except grpc.aio.AioRpcError as exc:
            raise _as_engine_error(primary_id, exc) from None
        return results


def _as_engine_error(primary_id: str, exc: grpc.aio.AioRpcError) -> EngineError:
    detail = f"forwarded to primary {primary_id}: {exc.details()}"
    code = exc.code()
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return NotPrimary(detail)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return Overloaded(detail)
    return Unavailable(detail)


def is_forwarded(metadata: Iterable[tuple[str, Any]] | None) -> bool:
    """Whether a call's metadata marks it as forwarded by another engine."""
    return any(key == FORWARDED for key, _ in metadata or ())
