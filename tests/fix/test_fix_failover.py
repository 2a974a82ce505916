"""The failover of a symbol's primary mid-session loses and repeats no ExecutionReport.

A three-engine cluster; the gateway reaches it through discovery like any SDK client.
Alice (resting buys) and Bob (selling into them) trade over FIX while the symbol's
primary is killed with SIGKILL. Afterwards every fill DOME reported to either account
(replayed from the new primary, the truth) is exactly one FIX ExecutionReport with the
ExecID of that report, every order was acknowledged once, and no ExecID came twice.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from initiator import Initiator, session_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))

from cluster_harness import ACCOUNTS, Cluster, running_cluster
from gateway_harness import Gateway
from test_fix_orders import new_order

from dome.fix.orders import exec_id
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc
from waiting import wait_for

pytestmark = pytest.mark.timeout(300)

SYMBOL = "AAA-USD"
PAIRS_BEFORE, PAIRS_AFTER = 8, 8


def truth(cluster: Cluster, account: str, expected: int) -> list[tr.ExecutionReport]:
    """The account's reports on SYMBOL, replayed from seq 1 by the current primary."""
    primary = wait_for(lambda: cluster.primary(SYMBOL), 15, "a primary")
    stub = tr_grpc.TradingServiceStub(cluster.channel(cluster.address_of(primary)))
    call = stub.StreamExecutions(
        tr.StreamExecutionsRequest(symbols=[SYMBOL], from_seq={SYMBOL: 1}),
        metadata=(("authorization", f"Bearer {ACCOUNTS[account]}"),),
        timeout=30,
    )
    reports: list[tr.ExecutionReport] = []
    try:
        for report in call:
            reports.append(report)
            if len(reports) >= expected:
                break
    finally:
        call.cancel()
    return reports


def expected_exec_ids(reports: list[tr.ExecutionReport], kind: int) -> list[str]:
    """ExecIDs the gateway gives the reports of one ExecType (k counts within a seq)."""
    out, seen = [], Counter[int]()
    for report in reports:
        k = seen[report.seq]
        seen[report.seq] += 1
        if report.exec_type == kind:
            out.append(exec_id(report.symbol, report.seq, k))
    return out


def test_failover_mid_session_loses_and_repeats_nothing(
    tmp_path: Path, initiator_built: None
) -> None:
    with running_cluster(tmp_path / "cluster", 3, symbols=(SYMBOL,)) as cluster:
        gateway = Gateway(
            tmp_path / "gw", accounts=cluster.accounts, discovery=cluster.discovery_address
        )
        gateway.start()
        sessions: dict[str, Initiator] = {}
        try:
            for account in ("alice", "bob"):
                config = session_config(
                    tmp_path / account,
                    sender=account,
                    port=gateway.port,
                    password=ACCOUNTS[account],
                )
                sessions[account] = Initiator(config)
                sessions[account].wait_logon()
            alice, bob = sessions["alice"], sessions["bob"]

            def pair(n: int) -> None:
                buy, sell = f"buy-{n}", f"sell-{n}"
                alice.send(*new_order(buy, SYMBOL, "buy", "1", "100"))
                alice.wait_for(lambda m: m.get(11) == buy and m.get(150) == "0", 30)
                bob.send(*new_order(sell, SYMBOL, "sell", "1", "100"))
                bob.wait_for(lambda m: m.get(11) == sell and m.get(150) == "F", 30)
                alice.wait_for(lambda m: m.get(11) == buy and m.get(150) == "F", 30)

            for n in range(PAIRS_BEFORE):
                pair(n)
            old = cluster.primary(SYMBOL)
            cluster.engine(old).kill()
            killed = time.monotonic()
            for n in range(PAIRS_BEFORE, PAIRS_BEFORE + PAIRS_AFTER):
                pair(n)
            print(f"orders flowed again {time.monotonic() - killed:.2f}s after the kill")
            assert cluster.primary(SYMBOL) != old

            pairs = PAIRS_BEFORE + PAIRS_AFTER
            # Alice: NEW then TRADE per pair; Bob: TRADE per pair.
            for account, per_pair in (("alice", 2), ("bob", 1)):
                session = sessions[account]
                replay = truth(cluster, account, per_pair * pairs)
                assert len(replay) == per_pair * pairs
                fix_fills = [m[17] for m in session.reports() if m[150] == "F"]
                assert sorted(fix_fills) == sorted(expected_exec_ids(replay, tr.EXEC_TYPE_TRADE))
                all_ids = [m[17] for m in session.reports()]
                assert len(all_ids) == len(set(all_ids)), "an ExecutionReport came twice"
                acks = Counter(m[11] for m in session.reports() if m[150] == "0")
                assert set(acks.values()) == {1}
                assert len(acks) == pairs
                assert not session.rejects_sent()
        except BaseException:
            print(gateway.log())
            raise
        finally:
            for session in sessions.values():
                session.stop()
            gateway.stop()
