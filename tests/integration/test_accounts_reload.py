"""A running engine follows its accounts file: tokens rotate and are revoked without a restart.

The file is laid out as the kubelet lays out a Secret volume (``accounts.json`` a link
into ``..data``, itself a link to a timestamped directory, flipped atomically on every
change), so this is the change a ``kubectl apply`` of the accounts Secret makes under a
running engine pod. A file that no longer parses changes nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from engine_harness import ACCOUNTS, EngineProcess, start_engine

from dome.accounts import hash_accounts
from dome.v1 import trading_pb2 as tr
from dome.v1 import trading_pb2_grpc as tr_grpc
from waiting import wait_for

pytestmark = pytest.mark.timeout(120)


class SecretVolume:
    """A directory written the way the kubelet's atomic writer writes a Secret volume."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0
        root.mkdir(parents=True)
        (root / "accounts.json").symlink_to("..data/accounts.json")

    @property
    def path(self) -> Path:
        return self.root / "accounts.json"

    def write(self, text: str) -> None:
        self.generation += 1
        target = self.root / f"..gen_{self.generation}"
        target.mkdir()
        (target / "accounts.json").write_text(text)
        staged = self.root / "..data_tmp"
        staged.symlink_to(target.name)
        os.replace(staged, self.root / "..data")  # the one atomic step


@pytest.fixture
def volume(tmp_path: Path) -> SecretVolume:
    secret = SecretVolume(tmp_path / "secret")
    secret.write(json.dumps(hash_accounts(ACCOUNTS)))
    return secret


@pytest.fixture
def engine(tmp_path: Path, volume: SecretVolume) -> Iterator[EngineProcess]:
    running = start_engine(tmp_path / "engine", f"--accounts={volume.path}")
    yield running
    running.stop()


def _answer(engine: EngineProcess, token: str) -> grpc.StatusCode:
    """What the engine says to an authenticated read with ``token``."""
    with grpc.insecure_channel(engine.address) as channel:
        stub = tr_grpc.TradingServiceStub(channel)
        try:
            stub.ListOpenOrders(
                tr.ListOpenOrdersRequest(symbol="S0"),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=5,
            )
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[attr-defined, no-any-return]
    return grpc.StatusCode.OK


def test_a_rotated_token_works_and_the_old_one_and_a_removed_account_do_not(
    engine: EngineProcess, volume: SecretVolume
) -> None:
    assert _answer(engine, ACCOUNTS["alice"]) == grpc.StatusCode.OK
    assert _answer(engine, ACCOUNTS["bob"]) == grpc.StatusCode.OK
    rotated = {"alice": "token-alice-2", "carol": ACCOUNTS["carol"], "dave": "token-dave"}
    volume.write(json.dumps(hash_accounts(rotated)))

    wait_for(
        lambda: _answer(engine, "token-alice-2") == grpc.StatusCode.OK,
        15,
        "alice's new token accepted",
        interval=0.2,
    )
    assert _answer(engine, ACCOUNTS["alice"]) == grpc.StatusCode.UNAUTHENTICATED
    assert _answer(engine, ACCOUNTS["bob"]) == grpc.StatusCode.UNAUTHENTICATED
    assert _answer(engine, ACCOUNTS["carol"]) == grpc.StatusCode.OK
    assert _answer(engine, "token-dave") == grpc.StatusCode.OK
    assert '"msg": "accounts reloaded"' in engine.log()
    assert engine.alive()


def test_an_unusable_file_keeps_the_accounts_in_force(
    engine: EngineProcess, volume: SecretVolume
) -> None:
    volume.write('{"alice": ')  # a half-finished edit
    wait_for(lambda: "is unusable" in engine.log(), 15, "the engine's complaint", interval=0.2)
    volume.write(json.dumps({"alice": "token-a", "bob": "token-a"}))  # two share one token
    wait_for(
        lambda: engine.log().count("is unusable") >= 2, 15, "the second complaint", interval=0.2
    )
    for token in ACCOUNTS.values():
        assert _answer(engine, token) == grpc.StatusCode.OK
    assert '"msg": "accounts reloaded"' not in engine.log()
    assert engine.alive()
