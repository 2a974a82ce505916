"""Fixtures shared by the integration tests: a real engine process per test module.

The helpers live in ``engine_harness`` (importable by name from these tests) so a test
can also start an engine of its own with extra options.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from engine_harness import EngineProcess, Stubs, start_engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    """One ``python -m dome.engine`` process shared by the tests of a module."""
    running = start_engine(tmp_path_factory.mktemp("engine"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def stubs(engine: EngineProcess) -> AsyncIterator[Stubs]:
    """Trading and market-data stubs on a fresh channel to ``engine``."""
    async with grpc.aio.insecure_channel(engine.address) as channel:
        yield Stubs(channel, engine)
