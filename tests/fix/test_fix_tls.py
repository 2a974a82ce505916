"""FIX over TLS: ``dome fix --fix-tls-dir`` speaks FIX only through its TLS front.

QuickFIX's wheel has no OpenSSL (its SSLSocketAcceptor refuses to start), so the gateway
terminates TLS itself (dome.fix.tls_front) and relays to QuickFIX on loopback. A FIX
client that verifies the gateway's certificate against the CA logs on, is heartbeated
through the relay and counted as a session; one that speaks plain FIX to the same port
gets no FIX answer at all, and a wrong password over TLS is refused with a Logout.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_harness import EngineProcess
from gateway_harness import Gateway
from raw_fix import RawPeer, now

import waiting

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from certificates import make_tls_dir, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tls_dir(tmp_path_factory.mktemp("fix-tls"))


@pytest.fixture(scope="module")
def tls_gateway(
    engine: EngineProcess, tls_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    running = Gateway(
        tmp_path_factory.mktemp("tls-gateway"),
        accounts=engine.dir / "accounts.json",
        target=engine.address,
        extra=["--fix-tls-dir", str(tls_dir)],
    )
    running.start()
    try:
        yield running
    finally:
        if running.alive():
            running.stop()


def client_context(tls_dir: Path) -> ssl.SSLContext:
    """What a firm's FIX engine does: verify the gateway's certificate and name."""
    return ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))


def test_a_tls_fix_client_logs_on_and_is_heartbeated(
    tls_gateway: Gateway, engine: EngineProcess, tls_dir: Path
) -> None:
    peer = RawPeer(tls_gateway.port, "alice", tls=client_context(tls_dir))
    try:
        assert isinstance(peer.sock, ssl.SSLSocket)
        assert peer.sock.version() in ("TLSv1.2", "TLSv1.3")
        answer = peer.logon(engine.accounts["alice"])
        assert answer[35] == "A", answer
        waiting.wait_for(
            lambda: tls_gateway.metric("dome_fix_sessions") == 1, 10, "one session counted"
        )
        peer.send("1", "112=tls-probe")  # TestRequest: answered by a Heartbeat through the relay
        heartbeat = peer.wait(lambda m: m.get(35) == "0" and m.get(112) == "tls-probe", "Heartbeat")
        assert heartbeat[56] == "alice"
        # An order for a symbol the exchange does not list: refused with an
        # ExecutionReport (OrdStatus 8), counted by type and as a reject.
        peer.send("D", "11=tls-1", "55=NOPE-USD", "54=1", f"60={now()}", "38=1", "40=2", "44=1")
        report = peer.wait(lambda m: m.get(35) == "8" and m.get(11) == "tls-1", "the reject")
        assert report[39] == "8", report
        for name, labels in (
            ("dome_fix_messages_total", {"direction": "in", "msg_type": "D"}),
            ("dome_fix_messages_total", {"direction": "out", "msg_type": "8"}),
            ("dome_fix_rejects_total", {"kind": "order"}),
        ):
            waiting.wait_for(
                lambda name=name, labels=labels: tls_gateway.metric(name, **labels) >= 1,
                10,
                f"{name} {labels} counted",
            )
        peer.send("5")
        peer.wait(lambda m: m.get(35) == "5", "the Logout answer")
    finally:
        peer.close()
    waiting.wait_for(lambda: tls_gateway.metric("dome_fix_sessions") == 0, 10, "the session ended")


def test_a_wrong_password_over_tls_is_refused_with_a_logout(
    tls_gateway: Gateway, tls_dir: Path
) -> None:
    peer = RawPeer(tls_gateway.port, "bob", tls=client_context(tls_dir))
    try:
        answer = peer.logon("not-bobs-token")
        assert answer[35] == "5", answer
        assert peer.closed()
    finally:
        peer.close()


def test_plain_fix_on_the_tls_port_gets_no_fix_answer(
    tls_gateway: Gateway, engine: EngineProcess
) -> None:
    peer = RawPeer(tls_gateway.port, "alice")
    try:
        peer.send("A", "98=0", "108=30", "141=Y", f"554={engine.accounts['alice']}")
        assert peer.closed(), "the TLS front must drop a connection that does not handshake"
        assert not any(message.get(35) == "A" for message in peer.messages), peer.messages
    finally:
        peer.close()
