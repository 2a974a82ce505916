"""Discovery's runtime configuration: the document, the follower, and a discovery that
follows it while serving (no restart: the same ``serve`` keeps running throughout)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from discovery_fakes import PEER, FakeEngine, eventually, primaries

from dome.discovery.core import CoreConfig, Timings
from dome.discovery.records import Acks, Versioned
from dome.discovery.runtime_config import (
    ConfigFollower,
    RuntimeConfig,
    RuntimeConfigError,
    parse_config,
)
from dome.discovery.server import DiscoverySettings, ReadyInfo, serve
from dome.discovery.store import MemoryStore, StoreError


def document(**changes: object) -> str:
    raw: dict[str, object] = {
        "enginesExpected": 2,
        "replicationFactor": 1,
        "acks": "all",
        "symbols": ["A", "B"],
    }
    return json.dumps(raw | changes)


def test_a_document_parses_into_sorted_symbols_and_round_trips() -> None:
    config = parse_config(document(symbols=["B", "A"], acks="majority"))
    assert config == RuntimeConfig(("A", "B"), 1, Acks.MAJORITY, 2)
    assert parse_config(json.dumps(config.to_json())) == config


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("{", "not JSON"),
        ("[]", "JSON object"),
        (document(enginesExpected=0), "enginesExpected"),
        (document(enginesExpected="3"), "enginesExpected"),
        (document(replicationFactor=True), "replicationFactor"),
        (document(replicationFactor=-1), "replicationFactor"),
        (document(acks="some"), "acks"),
        (document(symbols=[]), "symbols"),
        (document(symbols=["A", ""]), "symbols"),
        (document(symbols="A"), "symbols"),
        (document(symbols=["A", "A"]), "twice"),
        (document(engines=3), "unknown keys"),
    ],
)
def test_a_bad_document_is_a_typed_error_naming_the_fault(text: str, fault: str) -> None:
    with pytest.raises(RuntimeConfigError, match=fault):
        parse_config(text)


class Source:
    """A configuration source whose document the test edits; each edit is a new version."""

    def __init__(self, text: str) -> None:
        self.version = 1
        self.text: str | None = text
        self.failure: str | None = None
        self.reads = 0

    def edit(self, text: str) -> None:
        self.version += 1
        self.text = text

    async def __call__(self) -> tuple[str, str] | None:
        self.reads += 1
        if self.failure is not None:
            raise RuntimeConfigError(self.failure)
        return None if self.text is None else (str(self.version), self.text)


async def test_the_follower_keeps_the_last_good_configuration_and_logs_a_bad_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = Source(document())
    refused: list[int] = []
    follower = ConfigFollower(source, on_refused=lambda: refused.append(1))
    first = await follower.first(interval=0.01)
    assert first.symbols == ("A", "B")
    assert await follower.check() is None, "an unchanged version is no change"

    with caplog.at_level(logging.ERROR, logger="dome.discovery"):
        source.edit(document(replicationFactor=0))
        assert await follower.check() is None
    assert follower.in_force == first
    assert follower.errors == 1
    assert refused == [1]
    assert any("refused" in r.getMessage() for r in caplog.records)
    assert await follower.check() is None, "a refused version is not parsed again"
    assert follower.errors == 1

    source.failure = "reading ConfigMap trading/demo-discovery: HTTP 403 Forbidden"
    with caplog.at_level(logging.WARNING, logger="dome.discovery"):
        caplog.clear()
        for _ in range(3):
            assert await follower.check() is None
    assert follower.in_force == first
    assert len([r for r in caplog.records if "unreadable" in r.getMessage()]) == 1
    source.failure = None

    source.edit(document(replicationFactor=2, symbols=["A", "B", "C"]))
    changed = await follower.check()
    assert changed == RuntimeConfig(("A", "B", "C"), 2, Acks.ALL, 2)
    assert follower.in_force == changed


async def test_the_first_configuration_is_awaited_until_the_source_has_one() -> None:
    source = Source(document())
    source.text = None  # the ConfigMap is not there yet
    follower = ConfigFollower(source)
    waiting = asyncio.create_task(follower.first(interval=0.01))
    await eventually(lambda: source.reads >= 3, 5, "a few reads of a missing source")
    assert not waiting.done()
    source.edit(document(symbols=["Z"]))
    assert (await asyncio.wait_for(waiting, 5)).symbols == ("Z",)


@dataclass
class Served:
    address: str
    source: Source
    task: asyncio.Task[None]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """Discovery whose command line says one thing and whose source says another."""
    stop = asyncio.Event()
    ready: asyncio.Future[ReadyInfo] = asyncio.get_running_loop().create_future()
    source = Source(document())
    settings = DiscoverySettings(
        core=CoreConfig(("IGNORED",), 3, engines_expected=9, timings=Timings()),
        metrics_port=-1,
        peer_auth=PEER,
    )
    task = asyncio.create_task(
        serve(
            settings,
            ready.set_result,
            stop,
            store=MemoryStore(),
            config_source=source,
            handle_signals=False,
        )
    )
    info = await asyncio.wait_for(ready, 10)
    try:
        yield Served(info.address, source, task)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_running_discovery_follows_its_configuration_without_a_restart(
    served: Served,
) -> None:
    engines = [FakeEngine(served.address, f"e{i}") for i in range(3)]
    await asyncio.gather(*(e.agent.start() for e in engines))
    try:

        def placement_of(engine: FakeEngine) -> dict[str, tuple[str, int]]:
            placement = engine.agent.current_placement
            if placement is None:
                return {}
            return {s.symbol: (s.primary, len(s.followers)) for s in placement.symbols}

        # The source, not the command line: A and B, one replica each.
        await eventually(
            lambda: (
                sorted(primaries(engines[0].agent.current_placement)) == ["A", "B"]
                and all(p for p in primaries(engines[0].agent.current_placement).values())
            ),
            10,
            "the first placement from the source",
        )
        assert {n for _, n in placement_of(engines[0]).values()} == {0}

        # A scale and an instruments edit at once: C is added, B removed, factor 2.
        served.source.edit(document(replicationFactor=2, symbols=["A", "C"], enginesExpected=3))

        def followed() -> bool:
            placement = engines[0].agent.current_placement
            now = placement_of(engines[0])
            return (
                placement is not None
                and placement.replication_factor == 2
                and sorted(now) == ["A", "C"]
                and all(primary and followers == 1 for primary, followers in now.values())
            )

        await eventually(followed, 10, "the placement to follow the new configuration")

        # A bad edit changes nothing: the configuration in force stays.
        before = placement_of(engines[0])
        served.source.edit(document(acks="sometimes"))
        await eventually(lambda: served.source.reads >= served.source.version + 2, 10, "reads")
        assert placement_of(engines[0]) == before
        placement = engines[0].agent.current_placement
        assert placement is not None
        assert placement.acks == "all"
        assert not served.task.done(), "discovery kept serving"
    finally:
        await asyncio.gather(*(e.agent.stop() for e in engines))


async def test_a_configuration_the_discovery_cannot_apply_stays_refused_and_is_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = Source(document())
    follower = ConfigFollower(source)
    first = await follower.first(interval=0.01)
    refusing = True
    applied: list[RuntimeConfig] = []

    async def apply(config: RuntimeConfig) -> None:
        if refusing:
            raise RuntimeConfigError("the store refused the new symbols: Lease names collide")
        applied.append(config)

    running = asyncio.create_task(follower.run(apply, interval=0.01))
    try:
        with caplog.at_level(logging.ERROR, logger="dome.discovery"):
            source.edit(document(symbols=["A", "B", "C"]))
            await eventually(lambda: follower.errors >= 3, 5, "three refused attempts")
        assert follower.in_force == first, "a refused configuration is not in force"
        assert len([r for r in caplog.records if "not applied" in r.getMessage()]) == 1
        refusing = False  # the store answers again: the same document now applies
        await eventually(lambda: applied, 5, "the retried configuration applied")
        assert applied[0].symbols == ("A", "B", "C")
        assert follower.in_force == applied[0]
    finally:
        running.cancel()
        await asyncio.wait({running})


class RefusingStore(MemoryStore):
    """A MemoryStore whose reads fail while ``refusing`` (an API server away)."""

    refusing = False

    async def load(self, symbols: Sequence[str]) -> dict[str, Versioned]:
        if self.refusing:
            raise StoreError("cannot reach the Kubernetes API")
        return await super().load(symbols)


async def test_added_symbols_wait_for_the_store_and_nothing_changes_meanwhile() -> None:
    stop = asyncio.Event()
    ready: asyncio.Future[ReadyInfo] = asyncio.get_running_loop().create_future()
    source, store = Source(document()), RefusingStore()
    settings = DiscoverySettings(
        core=CoreConfig(("IGNORED",), 1, timings=Timings()), metrics_port=-1, peer_auth=PEER
    )
    task = asyncio.create_task(
        serve(settings, ready.set_result, stop, store=store, config_source=source,
              handle_signals=False)
    )  # fmt: skip
    info = await asyncio.wait_for(ready, 10)
    engines = [FakeEngine(info.address, f"e{i}") for i in range(2)]
    await asyncio.gather(*(e.agent.start() for e in engines))
    try:
        symbols = lambda: sorted(primaries(engines[0].agent.current_placement))  # noqa: E731
        await eventually(lambda: symbols() == ["A", "B"], 10, "the first placement")
        store.refusing = True
        served_before = source.reads
        source.edit(document(symbols=["A", "B", "C"]))
        await eventually(lambda: source.reads >= served_before + 3, 10, "reads of the edit")
        assert symbols() == ["A", "B"], "a symbol was placed without reading the store"
        store.refusing = False
        await eventually(lambda: symbols() == ["A", "B", "C"], 10, "C placed once the store reads")
    finally:
        await asyncio.gather(*(e.agent.stop() for e in engines))
        stop.set()
        await asyncio.wait_for(task, 10)
