"""The FIX session layer of the gateway: logon, heartbeats, sequence numbers, resends.

QuickFIX/J drives what a FIX engine would do; a bare socket peer (``raw_fix``) sends what
none would: garbled frames, a sequence number too low, duplicates with PossDupFlag. Each
case ends with the session still taking orders where the FIX specification says it
should, and the book untouched by what was refused.
"""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from engine_harness import EngineProcess
from gateway_harness import Gateway
from initiator import Connect
from raw_fix import RawPeer, frame
from test_fix_orders import NOW, book, new_order, report


def test_wrong_password_is_refused_with_a_logout_and_reason(
    connect: Connect, gateway: Gateway
) -> None:
    refused = gateway.metric("dome_fix_logons_total", outcome="refused")
    alice = connect("alice", password="not-the-token", logon=False)
    (logout,) = alice.wait_for(lambda m: m.msg_type == "5", what="a Logout")
    assert "invalid Password (554)" in logout[58]
    assert not [line for line in alice.lines if line.startswith("LOGON")]
    assert gateway.metric("dome_fix_logons_total", outcome="refused") > refused


def test_username_must_match_the_account(gateway: Gateway, engine: EngineProcess) -> None:
    peer = RawPeer(gateway.port, "alice")
    try:
        peer.send("A", "98=0", "108=30", "141=Y", "553=bob", f"554={engine.accounts['alice']}")
        answer = peer.wait(lambda m: m.get(35) == "5", "a Logout")
        assert "Username (553)" in answer[58]
        assert peer.closed()
    finally:
        peer.close()


def test_unknown_comp_id_is_disconnected(gateway: Gateway) -> None:
    peer = RawPeer(gateway.port, "mallory")
    try:
        peer.send("A", "98=0", "108=30", "554=guess")
        assert peer.closed(), "QuickFIX drops a connection for a session it does not know"
        assert not peer.messages
    finally:
        peer.close()


def test_heartbeat_and_test_request(connect: Connect, gateway: Gateway) -> None:
    alice = connect("alice")
    alice.send("35=1", "112=are-you-there")
    (beat,) = alice.wait_for(lambda m: m.msg_type == "0" and m.get(112) == "are-you-there")
    assert beat[49] == "DOME"
    assert gateway.metric("dome_fix_sessions") >= 1
    assert gateway.metric("dome_fix_messages_total", direction="in", msg_type="1") >= 1


def test_sequence_numbers_survive_a_reconnect(connect: Connect, engine: EngineProcess) -> None:
    symbol = engine.symbol()
    first = connect("alice", name="alice-seq")
    first.send(*new_order(f"{symbol}-1", symbol, "buy", "1", "10"))
    report(first, f"{symbol}-1", "0")
    first.stop()
    # The same client store, no reset on Logon: both sides go on from where they were.
    again = connect("alice", name="alice-seq", reset=False)
    (logon,) = again.wait_for(lambda m: m.msg_type == "A")
    sent_logon = again.sent("A")[0]
    assert int(logon[34]) >= 3
    assert logon.get(141) != "Y"
    assert int(sent_logon[34]) >= 3
    assert sent_logon.get(141) != "Y"
    assert not again.received("5")
    assert not again.received("2")


def test_a_gap_from_the_client_is_answered_by_a_resend_request(
    gateway: Gateway, engine: EngineProcess
) -> None:
    peer = RawPeer(gateway.port, "carol")
    try:
        assert peer.logon(engine.accounts["carol"])[35] == "A"
        peer.send("1", "112=skip", seq=5)  # 2, 3 and 4 never came
        resend = peer.wait(lambda m: m.get(35) == "2", "a ResendRequest")
        assert resend[7] == "2"
        assert resend[16] in ("0", "4")
    finally:
        peer.close()


def test_garbled_frames_are_ignored_and_the_session_goes_on(
    gateway: Gateway, engine: EngineProcess
) -> None:
    symbol = engine.symbol()
    peer = RawPeer(gateway.port, "carol")
    try:
        assert peer.logon(engine.accounts["carol"])[35] == "A"
        order = new_order(f"{symbol}-g", symbol, "buy", "1", "10")[1:]
        body = peer.body("D", *order)
        peer.send_bytes(frame(body, checksum=0))  # wrong CheckSum: garbled, not counted
        peer.send_bytes(b"8=FIX.4.4\x019=5\x0135=D\x0110=000\x01")  # wrong BodyLength
        peer.seq -= 1  # the garbled order's number is still the next one
        peer.send("1", "112=still-there")
        peer.wait(lambda m: m.get(35) == "0" and m.get(112) == "still-there", "a Heartbeat")
        assert not [m for m in peer.messages if m.get(35) in ("3", "8", "5")]
        assert asyncio.run(book(engine, symbol)) == ([], [])
    finally:
        peer.close()


def test_possdup_below_the_expected_number_is_ignored(
    gateway: Gateway, engine: EngineProcess
) -> None:
    symbol = engine.symbol()
    peer = RawPeer(gateway.port, "carol")
    try:
        assert peer.logon(engine.accounts["carol"])[35] == "A"
        order = new_order(f"{symbol}-p", symbol, "buy", "1", "10")[1:]
        peer.send("D", *order)
        peer.wait(lambda m: m.get(35) == "8" and m.get(150) == "0", "the acknowledgement")
        # The same message again under its old number, marked as a possible duplicate.
        peer.send("D", *order, seq=peer.seq - 1, header=f"43=Y{chr(1)}122={NOW[3:]}")
        peer.send("1", "112=after-dup")
        peer.wait(lambda m: m.get(112) == "after-dup", "a Heartbeat")
        assert len([m for m in peer.messages if m.get(35) == "8"]) == 1
        assert asyncio.run(book(engine, symbol))[0] == [("10", "1", 1)]
    finally:
        peer.close()


def test_a_number_too_low_without_possdup_ends_the_session(
    gateway: Gateway, engine: EngineProcess
) -> None:
    peer = RawPeer(gateway.port, "carol")
    try:
        assert peer.logon(engine.accounts["carol"])[35] == "A"
        peer.send("1", "112=one")
        peer.send("1", "112=again", seq=peer.seq - 1)
        logout = peer.wait(lambda m: m.get(35) == "5", "a Logout")
        assert "MsgSeqNum too low" in logout[58]
    finally:
        peer.close()


@pytest.mark.parametrize(
    ("fields", "tag", "reason"),
    [
        (
            ["35=D", "11=r-noside", "55=S99", "60=20260101-00:00:00", "38=1", "40=2", "44=1"],
            "54",
            "1",
        ),  # Side missing: the dictionary requires it
        (
            ["35=D", "11=r-side", "55=S99", "54=Z", "60=20260101-00:00:00", "38=1", "40=2", "44=1"],
            "54",
            "5",
        ),  # a Side value FIX does not define
        (
            [
                "35=D",
                "11=r-qty",
                "55=S99",
                "54=1",
                "60=20260101-00:00:00",
                "38=lots",
                "40=2",
                "44=1",
            ],
            "38",
            "6",
        ),  # not a number
        (
            ["35=D", "11=r-nosym", "54=1", "60=20260101-00:00:00", "38=1", "40=2", "44=1"],
            "55",
            "1",
        ),  # Symbol missing: required here
        (
            ["35=D", "11=r-nopx", "55=S99", "54=1", "60=20260101-00:00:00", "38=1", "40=2"],
            "44",
            "1",
        ),  # a limit order without Price
        (
            ["35=D", "11=r-noqty", "55=S99", "54=1", "60=20260101-00:00:00", "40=2", "44=1"],
            "38",
            "1",
        ),  # OrderQty missing
    ],
)
def test_bad_tags_get_a_session_reject(
    gateway: Gateway, engine: EngineProcess, fields: list[str], tag: str, reason: str
) -> None:
    peer = RawPeer(gateway.port, "carol")
    try:
        assert peer.logon(engine.accounts["carol"])[35] == "A"
        peer.send("D", *fields[1:])
        reject = peer.wait(lambda m: m.get(35) == "3", "a session Reject")
        assert reject[371] == tag
        assert reject[373] == reason
        assert reject[372] == "D"
        assert reject[45] == "2"  # RefSeqNum: the order's own number
        # The session goes on: the next message is answered.
        peer.send("1", "112=next")
        peer.wait(lambda m: m.get(112) == "next", "a Heartbeat")
        assert asyncio.run(book(engine, "S99")) == ([], [])
    finally:
        peer.close()


def test_an_unsupported_message_gets_a_business_reject(connect: Connect) -> None:
    alice = connect("alice")
    alice.send("35=c", "320=sec-1", "321=0")  # SecurityDefinitionRequest: valid, not served
    (reject,) = alice.wait_for(lambda m: m.msg_type == "j", what="a BusinessMessageReject")
    assert reject[380] == "3"
    assert reject[372] == "c"
    alice.send("35=1", "112=after-j")
    alice.wait_for(lambda m: m.msg_type == "0" and m.get(112) == "after-j")


def test_sigusr1_prints_the_gateways_threads_and_it_serves_on(gateway: Gateway) -> None:
    """What a failed metrics read prints (``Gateway.stacks``): every thread, the gateway on."""
    stacks = gateway.stacks().split("--- thread stacks ---", 1)
    assert len(stacks) == 2, stacks[0]
    assert "serve_forever" in stacks[1], stacks[1]  # the metrics page's thread
    assert gateway.alive()
    with urllib.request.urlopen(str(gateway.info["metrics"]), timeout=5) as page:
        assert "dome_fix_sessions" in page.read().decode()  # the page still answers
