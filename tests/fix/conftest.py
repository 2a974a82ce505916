"""Fixtures of the FIX gateway tests: a real engine, a real gateway, QuickFIX/J initiators.

The engine and the gateway are processes shared by a test module (each test trades
symbols of its own); every initiator is a QuickFIX/J process of its own, logged on
before the test starts. Without java and mvn these tests skip and say why.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from engine_harness import EngineProcess, start_engine
from gateway_harness import Gateway
from initiator import Connect, Initiator, build_reason, session_config

pytest.importorskip("quickfix", reason="the FIX gateway needs the quickfix package")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report carries the log of every gateway it used.

    A fixture cannot do this itself: pytest does not throw a test's failure into the
    fixture's generator, so an ``except`` around its ``yield`` never sees it.
    """
    report = yield
    if report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, Gateway):
                report.sections.append((f"{name}: the gateway's log", value.log()))
    return report


@pytest.fixture(scope="session")
def initiator_built() -> None:
    """The QuickFIX/J initiator, built by Maven on first use (skips without java/mvn)."""
    reason = build_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    running = start_engine(tmp_path_factory.mktemp("engine"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def gateway(
    engine: EngineProcess, tmp_path_factory: pytest.TempPathFactory, initiator_built: None
) -> Iterator[Gateway]:
    """``dome fix`` in front of ``engine``, one session per account of the engine."""
    running = Gateway(
        tmp_path_factory.mktemp("gateway"),
        accounts=engine.dir / "accounts.json",
        target=engine.address,
    )
    running.start()
    try:
        yield running
    finally:
        if running.alive():
            running.stop()
    # Every request's reports were out before the next was read (none waited it out).
    assert "report stream behind the result" not in running.log_path.read_text()


@pytest.fixture
def connect(gateway: Gateway, engine: EngineProcess, tmp_path: Path) -> Iterator[Connect]:
    """``connect("alice")``: a QuickFIX/J session for the account, logged on.

    ``name`` reuses an earlier initiator's directory (its store: its sequence numbers).
    """
    started: list[Initiator] = []

    def open_session(
        account: str,
        *,
        password: str | None = None,
        logon: bool = True,
        reset: bool = True,
        name: str | None = None,
        port: int | None = None,
        **extra: str,
    ) -> Initiator:
        # Tests share the gateway's sessions: each starts them afresh (ResetSeqNumFlag on
        # its Logon) unless it is about sequence numbers surviving.
        if reset:
            extra.setdefault("ResetOnLogon", "Y")
        config = session_config(
            tmp_path / (name or f"{account}-{len(started)}"),
            sender=account,
            port=port or gateway.port,
            password=engine.accounts[account] if password is None else password,
            extra=extra,
        )
        initiator = Initiator(config)
        started.append(initiator)
        if logon:
            initiator.wait_logon()
        return initiator

    try:
        yield open_session
    finally:
        for initiator in started:
            initiator.stop()
        for initiator in started:
            assert not initiator.rejects_sent(), (
                f"QuickFIX/J rejected what the gateway sent: {initiator.rejects_sent()}"
            )
