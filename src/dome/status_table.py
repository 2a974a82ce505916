"""One mechanism for every server: expected errors to gRPC status codes, at one edge.

The engine and discovery each declare their own errors and one table of codes
(``dome.engine.errors``, ``dome.discovery.errors``); this class is how both tables work.
Servicer bodies run inside ``guard``: an error the table knows becomes its status with
the error's message (logged at the table's level, counted when a counter is given),
anything else is a bug and becomes INTERNAL with a logged traceback, so nothing a caller
sends escapes as an unhandled exception or UNKNOWN.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import grpc


class StatusTable:
    """Which status code each expected error gets, looked up by its most specific class."""

    def __init__(
        self,
        codes: Mapping[type[Exception], grpc.StatusCode],
        log: logging.Logger,
        *,
        refusal_level: int = logging.INFO,
    ) -> None:
        self.codes = dict(codes)
        self._log = log
        self._refusal_level = refusal_level

    def code(self, exc: BaseException) -> grpc.StatusCode | None:
        """The status code for ``exc``, or None when it is not an expected error."""
        for cls in type(exc).__mro__:
            code = self.codes.get(cls)
            if code is not None:
                return code
        return None

    @asynccontextmanager
    async def guard(
        self, context: grpc.aio.ServicerContext[Any, Any], method: str, refused: Any = None
    ) -> AsyncIterator[None]:
        """Turn whatever a handler body raises into a status, logging what is unexpected.

        ``refused`` is a counter labelled by status code, counting calls refused here.
        """
        try:
            yield
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            code = self.code(exc)
            if code is None:
                self._log.exception("handler failed", extra={"method": method})
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            self._log.log(
                self._refusal_level,
                "call refused",
                extra={"method": method, "code": code.name, "error": str(exc)},
            )
            if refused is not None:
                refused.labels(code.name.lower()).inc()
            await context.abort(code, str(exc))
