"""Fixtures of the discovery unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from lease_server import LeaseServer


@pytest.fixture
async def api() -> AsyncIterator[tuple[LeaseServer, str]]:
    """A ``LeaseServer`` on 127.0.0.1 and its base URL."""
    server = LeaseServer()
    runner = web.AppRunner(server.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
