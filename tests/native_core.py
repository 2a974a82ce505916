"""The native core (``dome_native``) for the tests that exercise it, or why it is missing.

Where a Rust toolchain exists, ``make test`` builds the extension first, so its absence
is a failure there (and wherever ``DOME_CORE=native`` asks for it); only on a machine
without cargo do the native tests skip, saying so.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from types import ModuleType
from typing import Any, NoReturn

import pytest

try:
    import dome_native as _native

    NATIVE: ModuleType | None = _native
    IMPORT_ERROR = ""
except ImportError as exc:
    NATIVE = None
    IMPORT_ERROR = str(exc)

#: Why native tests skip on a machine without a Rust toolchain.
NO_TOOLCHAIN = (
    "native core not built: no Rust toolchain (cargo is not on PATH); install Rust and "
    "run `make native`"
)


def required() -> bool:
    """Whether a missing extension is an error: cargo is here, or DOME_CORE asks for it."""
    return os.environ.get("DOME_CORE", "").strip() == "native" or shutil.which("cargo") is not None


def missing_message() -> str:
    why = (
        "DOME_CORE=native"
        if os.environ.get("DOME_CORE", "").strip() == "native"
        else ("cargo is on PATH")
    )
    return (
        f"dome_native does not import ({IMPORT_ERROR}) although {why}: `make native` "
        "(run by `make test`) should have built it into the venv"
    )


def fail_or_skip() -> NoReturn:
    """Fail when the extension should be there, else skip with the reason."""
    if required():
        pytest.fail(missing_message())
    pytest.skip(NO_TOOLCHAIN)


def module() -> ModuleType:
    """``dome_native``, or fail/skip as ``fail_or_skip`` says."""
    if NATIVE is None:
        fail_or_skip()
    return NATIVE


def book_factory() -> Callable[..., Any] | None:
    """``dome_native.Book``; where it should exist but does not, a factory that fails the
    test using it; None (the contract suite skips it) where no toolchain exists."""
    if NATIVE is not None:
        book: Callable[..., Any] = NATIVE.Book
        return book
    if required():

        def missing(*_args: object) -> NoReturn:
            pytest.fail(missing_message())

        return missing
    return None
