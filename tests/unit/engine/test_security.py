"""Bearer tokens, rates and stream slots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dome.accounts import AccountsFileError, load_accounts
from dome.engine.errors import RateLimited, TooManyStreams, Unauthenticated
from dome.engine.security import Gate


class FakeContext:
    def __init__(self, *metadata: tuple[str, str]) -> None:
        self.metadata = metadata

    def invocation_metadata(self) -> Any:
        return self.metadata


def test_token_names_the_account() -> None:
    gate = Gate({"alice": "ta", "bob": "tb"}, rate=10)
    assert gate.account(FakeContext(("authorization", "Bearer tb"))) == "bob"  # type: ignore[arg-type]
    assert gate.account(FakeContext(("authorization", "bearer ta"))) == "alice"  # type: ignore[arg-type]
    for bad in [(), (("authorization", "Bearer x"),), (("authorization", "ta"),)]:
        with pytest.raises(Unauthenticated):
            gate.account(FakeContext(*bad))  # type: ignore[arg-type]


def test_rate_is_per_account_and_refills() -> None:
    now = [0.0]
    gate = Gate({}, rate=10, clock=lambda: now[0])
    gate.admit("a", 10)
    with pytest.raises(RateLimited):
        gate.admit("a", 1)
    gate.admit("b", 10)
    now[0] = 0.5
    gate.admit("a", 5)


def test_stream_slots_are_released() -> None:
    gate = Gate({}, rate=1, max_streams=1)
    with gate.streams.hold("a"):
        with pytest.raises(TooManyStreams), gate.streams.hold("a"):
            pass
        with gate.streams.hold("b"):
            pass
    with gate.streams.hold("a"):
        pass


def test_accounts_file(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"alice": "t1"}))
    assert load_accounts(good) == {"alice": "t1"}
    for content in ("[]", '{"a": 1}', '{"a": "t", "b": "t"}', "{"):
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        with pytest.raises(AccountsFileError):
            load_accounts(bad)
