"""The peer secret: which calls need it, how it is checked, where it comes from.

``tests/cluster/test_peer_auth.py`` tries every peer call against a real cluster; this
file pins the rules themselves: the table of peer-only methods, each refusal, the secret
file, the command-line options and their safe default, and an in-process discovery that
refuses an engine without the secret before any handler runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor

from dome.discovery.core import CoreConfig, Timings
from dome.discovery.server import DiscoverySettings, ReadyInfo, serve
from dome.discovery.store import MemoryStore
from dome.engine.config import ConfigError, add_engine_arguments, config_from_args
from dome.peer_auth import (
    PEER_METHODS,
    PeerAuth,
    PeerAuthError,
    add_peer_auth_arguments,
    ensure_secret_file,
    peer_auth_from_args,
)
from dome.v1 import discovery_pb2 as ds
from dome.v1 import discovery_pb2_grpc as ds_grpc
from dome.v1 import market_data_pb2, replication_pb2, trading_pb2

SECRET = "unit-test-peer-secret-0123456789"
AUTH = PeerAuth(SECRET)


def test_exactly_the_calls_that_change_state_or_reveal_orders_are_peer_only() -> None:
    assert sorted(PEER_METHODS) == [
        "/dome.v1.DiscoveryService/DrainEngine",
        "/dome.v1.DiscoveryService/EvacuateEngines",
        "/dome.v1.DiscoveryService/Heartbeat",
        "/dome.v1.DiscoveryService/RegisterEngine",
        "/dome.v1.DiscoveryService/UpdateInSync",
        "/dome.v1.ReplicationService/FetchLog",
        "/dome.v1.ReplicationService/FetchSnapshot",
        "/dome.v1.ReplicationService/Replicate",
    ]


@pytest.mark.parametrize(
    ("metadata", "says"),
    [
        ((), "without credentials"),
        ((("authorization", "Bearer token-alice"),), "bearer token never does"),
        ((("authorization", f"Bearer {SECRET}"),), "bearer token never does"),
        ((("authorization", "Peer another-exchanges-secret-xyz"),), "wrong peer secret"),
        ((("authorization", f"Peer {SECRET}x"),), "wrong peer secret"),
        ((("authorization", "Peer"),), "wrong peer secret"),
    ],
)
def test_refusals_say_why(metadata: tuple[tuple[str, str], ...], says: str) -> None:
    reason = AUTH.refusal(metadata)
    assert reason is not None
    assert says in reason


def test_the_secret_passes_and_is_sent_the_same_way() -> None:
    assert AUTH.refusal(AUTH.metadata) is None
    assert AUTH.refusal([("x-other", "1"), ("authorization", f"peer {SECRET}".encode())]) is None
    assert AUTH.metadata == (("authorization", f"Peer {SECRET}"),)
    assert SECRET not in repr(AUTH)


def test_no_secret_refuses_everyone_and_only_disabled_lets_all_in() -> None:
    unset = PeerAuth()
    assert unset.mode == "unset"
    assert unset.metadata == ()
    assert "no peer secret" in (unset.refusal(AUTH.metadata) or "")
    off = PeerAuth.disabled()
    assert off.mode == "none"
    assert off.refusal(()) is None


def test_secret_files(tmp_path: Path) -> None:
    path = tmp_path / "peer-secret"
    with pytest.raises(PeerAuthError, match="does not exist"):
        PeerAuth.from_file(path)
    path.write_text("short\n")
    with pytest.raises(PeerAuthError, match="at least 16"):
        PeerAuth.from_file(path)
    path.write_text("two words but long enough\n")
    with pytest.raises(PeerAuthError, match="without spaces"):
        PeerAuth.from_file(path)
    path.write_text(f"  {SECRET}\n")
    assert PeerAuth.from_file(path).secret == SECRET


def test_a_generated_secret_is_owner_only_and_kept(tmp_path: Path) -> None:
    path = ensure_secret_file(tmp_path / "state" / "peer-secret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = PeerAuth.from_file(path).secret
    assert first is not None
    assert len(first) >= 40
    ensure_secret_file(path)
    assert PeerAuth.from_file(path).secret == first
    assert PeerAuth.from_file(ensure_secret_file(tmp_path / "other")).secret != first


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_peer_auth_arguments(parser, guarded="tests")
    return parser


def test_options_and_their_safe_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOME_PEER_SECRET_FILE", raising=False)
    path = tmp_path / "peer-secret"
    path.write_text(SECRET)
    parse = _parser().parse_args
    with pytest.raises(PeerAuthError, match="--peer-auth none"):
        peer_auth_from_args(parse([]), needed=True)
    assert peer_auth_from_args(parse([]), needed=False).mode == "unset"
    assert peer_auth_from_args(parse(["--peer-secret-file", str(path)]), needed=True) == AUTH
    assert peer_auth_from_args(parse(["--peer-auth", "none"]), needed=True).mode == "none"
    with pytest.raises(PeerAuthError, match="contradict"):
        peer_auth_from_args(parse(["--peer-auth", "none", "--peer-secret-file", str(path)]),
                            needed=True)  # fmt: skip
    monkeypatch.setenv("DOME_PEER_SECRET_FILE", str(path))
    assert peer_auth_from_args(parse([]), needed=True) == AUTH


def test_a_cluster_engine_needs_a_secret_and_a_standalone_one_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOME_PEER_SECRET_FILE", raising=False)
    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    cluster = ["--discovery", "127.0.0.1:1", "--data-dir", str(tmp_path)]
    with pytest.raises(ConfigError, match="no peer secret"):
        config_from_args(parser.parse_args(cluster))
    assert config_from_args(parser.parse_args([])).peer_auth.mode == "unset"
    (tmp_path / "s").write_text(SECRET)
    joined = config_from_args(
        parser.parse_args([*cluster, "--peer-secret-file", str(tmp_path / "s")])
    )
    assert joined.peer_auth == AUTH


def _message_types(descriptor: Descriptor, seen: set[str] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if descriptor.full_name not in seen:
        seen.add(descriptor.full_name)
        for field in descriptor.fields:
            if field.message_type is not None:
                _message_types(field.message_type, seen)
    return seen


def test_nothing_an_engine_serves_takes_a_placement() -> None:
    """Placement reaches an engine only on the channel it dials to its discovery."""
    for module, name in (
        (trading_pb2, "TradingService"),
        (market_data_pb2, "MarketDataService"),
        (replication_pb2, "ReplicationService"),
    ):
        for method in module.DESCRIPTOR.services_by_name[name].methods:
            carried = _message_types(method.input_type)
            assert not {"dome.v1.Placement", "dome.v1.SymbolPlacement"} & carried, method.name


@contextlib.asynccontextmanager
async def _discovery(peer_auth: PeerAuth) -> AsyncIterator[grpc.aio.Channel]:
    stop = asyncio.Event()
    ready: asyncio.Future[ReadyInfo] = asyncio.get_running_loop().create_future()
    settings = DiscoverySettings(
        core=CoreConfig(("A",), 1, timings=Timings()), metrics_port=-1, peer_auth=peer_auth
    )
    task = asyncio.create_task(
        serve(settings, ready.set_result, stop, store=MemoryStore(), handle_signals=False)
    )
    info = await asyncio.wait_for(ready, 10)
    try:
        async with grpc.aio.insecure_channel(info.address) as channel:
            yield channel
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


REGISTER = ds.RegisterEngineRequest(engine_id="e1", address="h:1", incarnation="i1")


@pytest.mark.parametrize("peer_auth", [AUTH, PeerAuth()], ids=["with-secret", "default"])
async def test_discovery_refuses_an_engine_without_the_secret(peer_auth: PeerAuth) -> None:
    async with _discovery(peer_auth) as channel:
        stub: Any = ds_grpc.DiscoveryServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.RegisterEngine(REGISTER, metadata=(("authorization", "Bearer t"),))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # Refused before parsing: bytes that are no request still get UNAUTHENTICATED.
        garbage = channel.unary_unary("/dome.v1.DiscoveryService/RegisterEngine")
        with pytest.raises(grpc.aio.AioRpcError) as unparsed:
            await garbage(b"\xff\xff\xff")
        assert unparsed.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert (await stub.ListEngines(ds.ListEnginesRequest())).engines == []
        if peer_auth.secret is not None:
            await stub.RegisterEngine(REGISTER, metadata=peer_auth.metadata)
            listed = await stub.ListEngines(ds.ListEnginesRequest())
            assert [e.engine_id for e in listed.engines] == ["e1"]
