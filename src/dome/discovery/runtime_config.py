"""What discovery is told while it runs: engines expected, replication, acks, symbols.

On Kubernetes these change with the Exchange (``kubectl scale exchange``, an HPA step,
an instruments edit), and discovery is the placement authority of the whole exchange:
restarting it for each such change stops writes everywhere for as long as engines take
to find it again. So the operator writes them into a ConfigMap (``NAME-discovery``, key
``discovery.json``) and discovery follows it, never its own pod template: a scale is a
new placement decision, not a new process.

Why a ConfigMap and not the Exchange itself: discovery then needs ``get`` on one named
ConfigMap instead of read rights on ``exchanges`` (the operator's API, whose defaulting
rules, such as replication factor ``min(3, engines)``, would have to be repeated here);
and what discovery obeys is exactly what the operator rendered, pinned by golden files.

A document that does not parse or breaks a rule is a ``RuntimeConfigError``: the
configuration in force stays, and the error is logged and counted, because a typo in a
hand-edited ConfigMap must not move any primary. ``ConfigFollower`` holds that rule; the
source it reads (``dome.discovery.config_map``) is injected, so tests give it documents.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from dome.discovery.coordinator_state import CoreConfig
from dome.discovery.records import Acks

log = logging.getLogger("dome.discovery")

#: The ConfigMap key that holds the document.
CONFIG_KEY = "discovery.json"
#: Seconds between two reads of the source: one GET of a small object.
POLL_SECONDS = 1.0


class RuntimeConfigError(ValueError):
    """The configuration document is not one discovery can use; the message says why."""


@dataclass(frozen=True)
class RuntimeConfig:
    """The settings that may change while discovery runs (the rest is its command line)."""

    symbols: tuple[str, ...]
    replication_factor: int
    acks: Acks
    engines_expected: int

    def onto(self, core: CoreConfig) -> CoreConfig:
        """``core`` with these settings; its timings stay.

        ``enginesExpected`` is the engine StatefulSet's target size here, so the engines
        at or above it are leaving: a scale-down evacuates them while the operator keeps
        their pods until placement shows nothing on them (``leaving_from_ordinal``).
        """
        return replace(
            core,
            symbols=self.symbols,
            replication_factor=self.replication_factor,
            acks=self.acks,
            engines_expected=self.engines_expected,
            leaving_from_ordinal=self.engines_expected,
        )

    def to_json(self) -> dict[str, object]:
        """The document's form, as the operator writes it."""
        return {
            "enginesExpected": self.engines_expected,
            "replicationFactor": self.replication_factor,
            "acks": self.acks.value,
            "symbols": list(self.symbols),
        }


def parse_config(text: str) -> RuntimeConfig:
    """Read a ``discovery.json`` document; raises ``RuntimeConfigError`` naming the fault.

    >>> parse_config('{"enginesExpected": 3, "replicationFactor": 3, "acks": "all", '
    ...              '"symbols": ["ETH-USD", "BTC-USD"]}').symbols
    ('BTC-USD', 'ETH-USD')
    >>> parse_config('{"enginesExpected": 0}')
    Traceback (most recent call last):
    ...
    dome.discovery.runtime_config.RuntimeConfigError: enginesExpected must be an integer >= 1, not 0
    """
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise RuntimeConfigError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise RuntimeConfigError(f"must be a JSON object, not {type(raw).__name__}")
    unknown = sorted(set(raw) - {"enginesExpected", "replicationFactor", "acks", "symbols"})
    if unknown:
        raise RuntimeConfigError(f"unknown keys {unknown}")
    engines = _positive(raw, "enginesExpected")
    factor = _positive(raw, "replicationFactor")
    acks = raw.get("acks")
    if acks not in tuple(a.value for a in Acks):
        raise RuntimeConfigError(f"acks must be 'all' or 'majority', not {acks!r}")
    symbols = raw.get("symbols")
    if (
        not isinstance(symbols, list)
        or not symbols
        or not all(isinstance(s, str) and s for s in symbols)
    ):
        raise RuntimeConfigError(f"symbols must be a non-empty list of names, not {symbols!r}")
    if len(set(symbols)) != len(symbols):
        raise RuntimeConfigError(f"symbols are listed twice: {sorted(symbols)}")
    return RuntimeConfig(tuple(sorted(symbols)), factor, Acks(acks), engines)


def _positive(raw: dict[str, object], key: str) -> int:
    value = raw.get(key)
    # bool is an int in Python; true is not a count.
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RuntimeConfigError(f"{key} must be an integer >= 1, not {value!r}")
    return value


#: Reads the source: (a version that changes with the document, the document), or None
#: when there is none (yet). Raises ``RuntimeConfigError`` when it cannot be read.
Fetch = Callable[[], Awaitable[tuple[str, str] | None]]


class ConfigFollower:
    """The configuration in force, replaced only by a newer document that parses.

    ``in_force`` is what discovery started with. ``check`` reads the source once and
    returns the new configuration when it differs, else None; ``errors`` (and
    ``on_refused``, the metric's hook) counts the documents and reads refused.
    """

    def __init__(
        self,
        fetch: Fetch,
        in_force: RuntimeConfig | None = None,
        *,
        on_refused: Callable[[], None] = lambda: None,
    ) -> None:
        self._fetch = fetch
        self.in_force = in_force
        self.errors = 0
        self._on_refused = on_refused
        self._seen: str | None = None
        self._unreadable = ""
        self._not_applied = ""

    async def check(self) -> RuntimeConfig | None:
        try:
            fetched = await self._fetch()
        except RuntimeConfigError as exc:
            self._refused()
            if str(exc) != self._unreadable:  # once per cause, not once a second
                self._unreadable = str(exc)
                log.warning("discovery configuration unreadable; the one in force stays",
                            extra={"error": str(exc)})  # fmt: skip
            return None
        if fetched is None:
            return None
        version, text = fetched
        if version == self._seen:
            return None
        self._seen = version
        self._unreadable = ""
        try:
            config = parse_config(text)
        except RuntimeConfigError as exc:
            self._refused()
            log.error(
                "discovery configuration refused; the one in force stays",
                extra={"version": version, "error": str(exc)},
            )
            return None
        if config == self.in_force:
            return None
        self.in_force = config
        return config

    def _refused(self) -> None:
        self.errors += 1
        self._on_refused()

    async def first(self, interval: float = POLL_SECONDS) -> RuntimeConfig:
        """Wait for the first usable document (discovery cannot place without one)."""
        while True:
            await self.check()
            if self.in_force is not None:
                return self.in_force
            log.info("waiting for the discovery configuration")
            await asyncio.sleep(interval)

    async def run(
        self, apply: Callable[[RuntimeConfig], Awaitable[None]], interval: float = POLL_SECONDS
    ) -> None:
        """``check`` every ``interval`` seconds and ``apply`` each change, until cancelled.

        ``apply`` raises ``RuntimeConfigError`` to refuse a configuration it cannot take
        (symbols whose Leases would collide, a store it cannot read now): the one in force
        stays, and the same document is tried again on the next look.
        """
        while True:
            await asyncio.sleep(interval)
            previous = self.in_force
            config = await self.check()
            if config is None:
                continue
            try:
                await apply(config)
                self._not_applied = ""
            except RuntimeConfigError as exc:
                self.in_force, self._seen = previous, None
                self._refused()
                if str(exc) != self._not_applied:  # once per cause, not once a second
                    self._not_applied = str(exc)
                    log.error("discovery configuration not applied; the one in force stays",
                              extra={"error": str(exc)})  # fmt: skip
