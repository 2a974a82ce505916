"""``dome.cores``: DOME_CORE picks the book core; a core that cannot run is a clear error.

The native extension may or may not be built where this runs, so each case decides for
itself: ``sys.modules[NAME] = None`` makes ``import dome_native`` fail, and a tiny fake
module (the Python classes under the native names) makes it succeed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import types

import pytest

from dome import cores
from dome.core.instrument import Instrument
from dome.core.market import Market
from dome.core.reference import ReferenceBook
from dome.cores import (
    CORE_ENV,
    FALLBACK_WARNING,
    NATIVE_MODULE,
    PYTHON_CORE,
    CoreError,
    python_market,
    select_core,
)
from dome.engine.metrics import EngineMetrics

INSTRUMENT = Instrument("XYZ")


@pytest.fixture
def no_native(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import dome_native`` fails, as where it was never built."""
    monkeypatch.setitem(sys.modules, NATIVE_MODULE, None)


@pytest.fixture
def fake_native(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """``import dome_native`` finds a stand-in with ``Book`` and ``Market``."""
    module = types.ModuleType(NATIVE_MODULE)
    module.Book = ReferenceBook  # type: ignore[attr-defined]
    module.Market = python_market  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, NATIVE_MODULE, module)
    return module


def test_python_is_python_whatever_is_built(fake_native: types.ModuleType) -> None:
    core = select_core({CORE_ENV: "python"}, warn=pytest.fail)
    assert core is PYTHON_CORE
    assert core.name == "python"
    market = core.market_factory(INSTRUMENT, 7)
    assert isinstance(market, Market)
    assert market.dedup_window == 7
    assert isinstance(core.book_factory(INSTRUMENT), ReferenceBook)


def test_native_is_the_extension(fake_native: types.ModuleType) -> None:
    core = select_core({CORE_ENV: "native"}, warn=pytest.fail)
    assert core.name == "native"
    assert core.book_factory is fake_native.Book
    assert core.market_factory is fake_native.Market


def test_native_without_the_extension_is_a_typed_error(no_native: None) -> None:
    with pytest.raises(CoreError, match=r"native core is not built.*make native"):
        select_core({CORE_ENV: "native"}, warn=pytest.fail)


@pytest.mark.parametrize("value", ["rust", "Native", "py", "native,python"])
def test_any_other_value_is_an_error(fake_native: types.ModuleType, value: str) -> None:
    with pytest.raises(CoreError, match=f"{CORE_ENV}={value!r}: expected 'native' or 'python'"):
        select_core({CORE_ENV: value}, warn=pytest.fail)


@pytest.mark.parametrize("environ", [{}, {CORE_ENV: ""}, {CORE_ENV: " "}])
def test_unset_prefers_native(fake_native: types.ModuleType, environ: dict[str, str]) -> None:
    assert select_core(environ, warn=pytest.fail).name == "native"


def test_unset_falls_back_to_python_with_one_warning(no_native: None) -> None:
    warnings: list[str] = []
    assert select_core({}, warn=warnings.append) is PYTHON_CORE
    assert warnings == [FALLBACK_WARNING]
    assert FALLBACK_WARNING == (
        "native core not built; running on the Python core (slower). Build it with `make native`."
    )


def test_the_fallback_warning_is_logged_once_per_process(
    no_native: None, caplog: pytest.LogCaptureFixture
) -> None:
    cores._warn_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger="dome.cores"):
        for _ in range(3):
            assert select_core({}) is PYTHON_CORE
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("dome.cores", "WARNING", FALLBACK_WARNING)
    ]


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != CORE_ENV} | env
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=60
    )


def test_a_process_without_the_extension_says_so_in_one_stderr_line() -> None:
    run = _python(
        "import sys; sys.modules['dome_native'] = None\n"
        "from dome.cores import select_core\n"
        "print(select_core().name, select_core().name)"
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "python python\n"
    assert run.stderr.splitlines() == [FALLBACK_WARNING]


@pytest.mark.parametrize("entry", [["dome.cli", "engine"], ["dome.engine"]])
def test_the_engine_refuses_a_bad_core_with_exit_2_and_no_traceback(entry: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, "-m", *entry, "--port", "0", "--metrics-port", "-1"],
        capture_output=True,
        text=True,
        env=os.environ | {CORE_ENV: "rust"},
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert f"{CORE_ENV}='rust': expected 'native' or 'python'" in run.stderr


def test_the_engine_refuses_native_when_it_is_not_built() -> None:
    try:
        import dome_native  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the native core is built here")
    run = subprocess.run(
        [sys.executable, "-m", "dome.cli", "engine", "--port", "0", "--metrics-port", "-1"],
        capture_output=True,
        text=True,
        env=os.environ | {CORE_ENV: "native"},
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert "native core is not built" in run.stderr
    assert "make native" in run.stderr


def test_engine_help_says_how_the_core_is_chosen() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "dome.cli", "engine", "--help"],
        capture_output=True,
        text=True,
        env=os.environ | {CORE_ENV: "rust"},  # help never selects
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    assert "$DOME_CORE" in text
    assert "'native' (the Rust core; an error if it is not built)" in text
    assert "Unset, it is native when built, else python with a warning" in text
    assert "make native" in text


@pytest.mark.parametrize("core", ["native", "python"])
def test_build_info_names_the_core(core: str) -> None:
    registry = EngineMetrics("engine-0", core=core).registry
    (family,) = [m for m in registry.collect() if m.name == "dome_build_info"]
    (sample,) = family.samples
    assert sample.value == 1
    assert sample.labels["core"] == core
    assert sample.labels["version"]
