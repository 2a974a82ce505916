"""A gateway restart mid-session: sequence numbers resume, missed reports come by resend.

The gateway is killed outright (SIGKILL: no Logout, no final write) while alice's orders
rest. While it is down her orders trade (bob, through the SDK) and she sends a new
order, which her engine keeps for later. The restarted gateway resumes her report stream
from its data directory and stores the fills before anyone can log on; at Logon each side
finds the other's sequence numbers ahead and asks for a resend: alice gets the fills
(PossDupFlag) exactly once, and the gateway gets her new order and books it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from engine_harness import EngineProcess
from gateway_harness import Gateway
from initiator import Connect
from test_fix_orders import new_order, report

from dome.client import Client
from waiting import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from cluster_harness import ACCOUNTS, running_cluster

pytestmark = pytest.mark.timeout(240)


@dataclass
class Exchange:
    """Where the gateway under test trades: one engine, or a cluster via discovery."""

    accounts: Path
    tokens: dict[str, str]
    symbol: str
    target: str | None = None
    discovery: str | None = None

    def client(self, account: str) -> Client:
        token = self.tokens[account]
        if self.target is not None:
            return Client(self.target, token)
        return Client(discovery=self.discovery, token=token)


@pytest.fixture(params=["engine", "cluster"])
def exchange(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Exchange]:
    if request.param == "engine":
        engine: EngineProcess = request.getfixturevalue("engine")
        yield Exchange(
            engine.dir / "accounts.json", engine.accounts, engine.symbol(), target=engine.address
        )
        return
    with running_cluster(tmp_path / "cluster", 1, symbols=("AAA-USD",)) as cluster:
        yield Exchange(
            cluster.accounts, dict(ACCOUNTS), "AAA-USD", discovery=cluster.discovery_address
        )


def test_restart_resumes_the_session_and_resends_what_was_missed(
    exchange: Exchange, connect: Connect, tmp_path: Path, initiator_built: None
) -> None:
    gateway = Gateway(
        tmp_path / "gw",
        accounts=exchange.accounts,
        target=exchange.target,
        discovery=exchange.discovery,
    )
    gateway.start()
    symbol = exchange.symbol
    try:
        # connect() dials the module's gateway unless told this test's own port.
        alice = connect("alice", reset=False, port=gateway.port, password=exchange.tokens["alice"])
        alice.send(*new_order(f"{symbol}-a1", symbol, "sell", "3", "100"))
        alice.send(*new_order(f"{symbol}-a2", symbol, "sell", "2", "101"))
        acked_seq = int(report(alice, f"{symbol}-a2", "0")[0][34])

        gateway.kill()
        alice.wait_line(lambda line: line.startswith("LOGOUT"), 15, "the disconnect")
        alice.command("logout")  # stay away until told: the restart happens meanwhile

        async def bob_trades() -> None:
            async with exchange.client("bob") as bob:
                result = await bob.submit_order(symbol, "buy", "4", "101")
                assert result.filled_qty == 4

        asyncio.run(bob_trades())
        alice.send(*new_order(f"{symbol}-a3", symbol, "buy", "1", "90"))  # kept for resend
        alice.wait_line(lambda line: line.startswith("ERROR not sent"), 10, "a queued order")

        gateway.start()
        wait_for(
            lambda: gateway.metric("dome_fix_messages_total", direction="out", msg_type="8") >= 2,
            30,
            "the gateway to store the fills it missed",
        )
        alice.command("logon")
        fills = alice.wait_for(lambda m: m.msg_type == "8" and m.get(150) == "F", count=2)
        a1 = [m for m in fills if m[11] == f"{symbol}-a1"]
        a2 = [m for m in fills if m[11] == f"{symbol}-a2"]
        assert len(a1) == 1
        assert a1[0][39] == "2"
        assert a1[0][14] == "3"
        assert a1[0][31] == "100"
        assert len(a2) == 1
        assert a2[0][39] == "1"
        assert a2[0][14] == "1"
        assert a2[0][151] == "1"
        assert all(m.get(43) == "Y" for m in fills), "the fills came by resend"
        assert int(min(m[34] for m in fills)) > acked_seq, "the sequence went on"

        # The gateway asked for alice's order sent while it was down, and booked it.
        (ack,) = report(alice, f"{symbol}-a3", "0")
        assert ack[151] == "1"
        assert alice.sent("2"), "alice asked for a resend"
        logons = alice.received("A")
        assert logons[-1].get(141) != "Y"
        assert int(logons[-1][34]) > acked_seq

        # The order table survived too: a cancel of a2 knows its CumQty.
        alice.send(
            "35=F",
            f"11={symbol}-a2-x",
            f"41={symbol}-a2",
            f"55={symbol}",
            "54=2",
            "60=20260101-00:00:00",
            "38=2",
        )
        (cancelled,) = report(alice, f"{symbol}-a2-x", "4")
        assert cancelled[14] == "1"
        assert cancelled[41] == f"{symbol}-a2"
        execs = [m[17] for m in alice.reports()]
        assert len(execs) == len(set(execs)), "no ExecutionReport twice"
    except BaseException:
        print(gateway.log())
        raise
    finally:
        if gateway.alive():
            gateway.stop()
