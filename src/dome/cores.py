"""Which book core an engine runs: the native (Rust) one when it is built, else Python.

Two implementations, one contract (DESIGN.md section 5): ``dome_native`` (``native/``,
a PyO3 extension) and the readable Python reference (``dome.core``, the executable spec).
Both pass the same contract suite and give byte-identical journals, snapshots and state
hashes, so this choice changes speed, never behaviour, and a cluster may mix them.

``DOME_CORE`` chooses:

- ``native``: the Rust core; ``CoreError`` when the extension does not import;
- ``python``: the Python reference core;
- unset (or empty): native when it imports, else Python, with one warning line per
  process saying so;
- anything else: ``CoreError``.

The engine (``dome engine``, ``dome up``) and ``dome replay`` select here, once, and
pass the result down: nothing else decides which core to build.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from dome.core.book_api import Book
from dome.core.commands import Command
from dome.core.instrument import Instrument
from dome.core.market import Market, MarketResult, MarketSnapshot
from dome.core.reference import ReferenceBook

log = logging.getLogger("dome.cores")

#: The environment variable that selects the core.
CORE_ENV = "DOME_CORE"
NATIVE = "native"
PYTHON = "python"
#: The module ``make native`` builds.
NATIVE_MODULE = "dome_native"
#: What a process without the native core says, once, when it falls back to Python.
FALLBACK_WARNING = (
    "native core not built; running on the Python core (slower). Build it with `make native`."
)
#: For ``--help`` texts: how the core is chosen.
SELECTION_HELP = (
    f"The book core comes from ${CORE_ENV}: '{NATIVE}' (the Rust core; an error if it is "
    f"not built) or '{PYTHON}' (the Python reference core). Unset, it is {NATIVE} when "
    f"built, else {PYTHON} with a warning; `make native` builds it."
)


class CoreError(Exception):
    """``DOME_CORE`` names a core this process cannot run; the message says what to do."""


class MarketCore(Protocol):
    """What the engine, the log and the tools call on one symbol's market, in either core.

    ``dome.core.market.Market`` (over a ``ReferenceBook``) and ``dome_native.Market``
    both have it: the book, the replicated idempotency window, snapshots and the state
    hash, and ``apply_batch``, one call for a whole batch.
    """

    @property
    def book(self) -> Book:
        """The symbol's book (read it; commands go through the market)."""
        ...

    @property
    def instrument(self) -> Instrument:
        """The book's instrument."""
        ...

    @property
    def dedup_window(self) -> int:
        """How many (account, client order id) pairs the market remembers."""
        ...

    @property
    def last_seq(self) -> int:
        """Sequence number of the last command applied, duplicates included."""
        ...

    def apply(self, cmd: Command) -> MarketResult:
        """Apply one sequenced command."""
        ...

    def apply_batch(self, commands: Sequence[Command]) -> list[MarketResult]:
        """Apply sequenced commands in order; one result each."""
        ...

    def is_known(self, account: str, client_order_id: str) -> bool:
        """Whether a new order with this client order id would be answered as a duplicate."""
        ...

    def remembered(self) -> int:
        """How many client order ids the window holds now."""
        ...

    def snapshot(self) -> MarketSnapshot:
        """The whole replicated state as plain data."""
        ...

    def restore(self, snapshot: MarketSnapshot) -> None:
        """Replace the state with ``snapshot``'s; ``ValueError`` if it is inconsistent."""
        ...

    def state_hash(self) -> str:
        """Digest of book, last sequence and window (see ``Market.state_hash``)."""
        ...


BookFactory = Callable[[Instrument], Book]
#: ``(instrument, dedup_window) -> market``.
MarketFactory = Callable[[Instrument, int], MarketCore]


@dataclass(frozen=True)
class Core:
    """One book core: its name and how to build its books and markets."""

    #: ``"native"`` or ``"python"``: what metrics, logs and the ready file report.
    name: str
    book_factory: BookFactory
    market_factory: MarketFactory


def python_market(instrument: Instrument, dedup_window: int) -> Market:
    """A Python ``Market`` over a fresh ``ReferenceBook``."""
    return Market(ReferenceBook(instrument), dedup_window)


#: The Python reference core, always there.
PYTHON_CORE = Core(PYTHON, ReferenceBook, python_market)


def native_core() -> Core:
    """The Rust core; ``CoreError`` when ``dome_native`` does not import."""
    try:
        module = importlib.import_module(NATIVE_MODULE)
    except ImportError as exc:
        raise CoreError(
            f"{CORE_ENV}={NATIVE} but the native core is not built ({exc}); build it with "
            f"`make native`, or set {CORE_ENV}={PYTHON}"
        ) from None
    return Core(NATIVE, cast(BookFactory, module.Book), cast(MarketFactory, module.Market))


def select_core(
    environ: Mapping[str, str] | None = None,
    *,
    warn: Callable[[str], None] | None = None,
) -> Core:
    """The core ``DOME_CORE`` in ``environ`` (default: this process's) selects.

    ``CoreError`` for an unknown value or for ``native`` without the extension. When
    unset and the extension is missing, ``warn`` gets ``FALLBACK_WARNING`` (by default
    it is logged once per process, as a warning of ``dome.cores``).

    >>> select_core({CORE_ENV: PYTHON}).name
    'python'
    >>> select_core({CORE_ENV: "rust"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dome.cores.CoreError: DOME_CORE='rust': expected 'native' or 'python' (or unset: ...)
    """
    value = (os.environ if environ is None else environ).get(CORE_ENV, "").strip()
    if value == PYTHON:
        return PYTHON_CORE
    if value == NATIVE:
        return native_core()
    if value:
        raise CoreError(
            f"{CORE_ENV}={value!r}: expected '{NATIVE}' or '{PYTHON}' "
            f"(or unset: {NATIVE} when built, else {PYTHON})"
        )
    try:
        return native_core()
    except CoreError:
        (warn or _warn_once)(FALLBACK_WARNING)
        return PYTHON_CORE


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)
