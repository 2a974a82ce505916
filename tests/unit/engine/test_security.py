"""Bearer tokens, rates and stream slots."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import Any

import grpc
import pytest

from dome import cli
from dome.accounts import (
    AccountsFileError,
    hash_token,
    is_hashed,
    load_accounts,
    load_tokens,
    new_token,
    write_accounts,
)
from dome.engine import security
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


def test_pace_waits_out_the_rate_without_charging_and_refuses_more_than_a_burst() -> None:
    now = [0.0]
    gate = Gate({}, rate=10, clock=lambda: now[0])
    assert gate.pace("a", 8) == 0.0  # charged
    assert gate.pace("a", 4) == pytest.approx(0.2)  # 2 short at 10/s
    assert gate.pace("a", 4) == pytest.approx(0.2)  # still: the wait charged nothing
    assert gate.pace("b", 10) == 0.0  # another account's own budget
    now[0] = 0.2
    assert gate.pace("a", 4) == 0.0
    with pytest.raises(RateLimited, match="exceed the burst of 10"):
        gate.pace("a", 11)  # no wait would ever admit it
    now[0] = 10.0
    assert gate.pace("a", 10) == 0.0  # the refusal charged nothing either


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
    good.write_text(json.dumps({"alice": hash_token("t1")}))
    assert load_accounts(good) == {"alice": hash_token("t1")}
    for content in ("[]", '{"a": 1}', '{"a": "t", "b": "t"}', "{"):
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        with pytest.raises(AccountsFileError):
            load_accounts(bad)
    # The same token, once hashed and once in clear, is still one token for two accounts.
    bad.write_text(json.dumps({"a": "t", "b": hash_token("t")}))
    with pytest.raises(AccountsFileError, match="share a token"):
        load_accounts(bad)


def test_the_written_file_holds_hashes_not_tokens(tmp_path: Path) -> None:
    tokens = {"alice": new_token(), "bob": new_token()}
    path = tmp_path / "accounts.json"
    write_accounts(path, tokens)
    text = path.read_text()
    for token in tokens.values():
        assert token not in text
    assert path.stat().st_mode & 0o777 == 0o600
    stored = load_accounts(path)
    assert all(is_hashed(value) for value in stored.values())
    gate = Gate(stored, rate=10)
    assert gate.account(bearer(tokens["bob"])) == "bob"
    # The file's own values are no tokens: presenting a hash gets nowhere.
    with pytest.raises(Unauthenticated):
        gate.account(bearer(stored["bob"]))
    # Clients cannot trade with a file of hashes, and are told which file they need.
    with pytest.raises(AccountsFileError, match=r"tokens\.json"):
        load_tokens(path)


def test_the_wrong_token_is_refused() -> None:
    token = new_token()
    gate = Gate({"alice": hash_token(token)}, rate=10)
    assert gate.account(bearer(token)) == "alice"
    for wrong in (token[:-1], token + "0", token.upper(), "", " ", hash_token(token)):
        with pytest.raises(Unauthenticated):
            gate.account(bearer(wrong))


def test_the_verdict_is_a_constant_time_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    """Constant time by construction: the Gate's yes or no is hmac.compare_digest's.

    Every presented token is compared to its candidates' full digests with
    compare_digest; a spy sees each comparison, and when it says no, the right token is
    refused (so no other comparison decided).
    """
    token = new_token()
    gate = Gate({"alice": hash_token(token), "bob": hash_token(new_token())}, rate=10)
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    assert gate.account(bearer(token)) == "alice"
    digest = hashlib.sha256(token.encode()).digest()
    assert calls == [(digest, digest)]
    monkeypatch.setattr(security.hmac, "compare_digest", lambda a, b: False)
    with pytest.raises(Unauthenticated):
        gate.account(bearer(token))


def test_a_clear_text_file_still_works_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"alice": "token-a", "bob": hash_token("token-b")}))
    with caplog.at_level(logging.WARNING, logger="dome.accounts"):
        stored = load_accounts(path)
    assert stored == {"alice": hash_token("token-a"), "bob": hash_token("token-b")}
    (warning,) = caplog.records
    assert "clear text" in warning.getMessage()
    assert "alice" in warning.getMessage()
    assert "bob" not in warning.getMessage()
    assert "dome accounts hash" in warning.getMessage()
    gate = Gate(stored, rate=10)
    assert gate.account(bearer("token-a")) == "alice"


def test_dome_accounts_hash_migrates_a_file_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"alice": "token-a", "bob": hash_token("token-b")}))
    assert dome_cli("accounts", "hash", str(path)) == 0
    assert json.loads(capsys.readouterr().out) == {
        "alice": hash_token("token-a"),
        "bob": hash_token("token-b"),
    }
    assert "token-a" in path.read_text()  # without --in-place, only printed
    assert dome_cli("accounts", "hash", "--in-place", str(path)) == 0
    assert "token-a" not in path.read_text()
    assert load_accounts(path) == {"alice": hash_token("token-a"), "bob": hash_token("token-b")}
    assert path.stat().st_mode & 0o777 == 0o600


def test_dome_accounts_new_writes_tokens_for_clients_and_hashes_for_engines(
    tmp_path: Path,
) -> None:
    tokens, accounts = tmp_path / "tokens.json", tmp_path / "accounts.json"
    assert (
        dome_cli(
            "accounts", "new", "alice", "bob", "--tokens", str(tokens), "--accounts", str(accounts)
        )
        == 0
    )
    clear = load_tokens(tokens)
    assert set(clear) == {"alice", "bob"}
    assert load_accounts(accounts) == {name: hash_token(t) for name, t in clear.items()}
    for token in clear.values():
        assert token not in accounts.read_text()


def test_the_gate_remembers_presented_tokens_for_forwarding() -> None:
    token = new_token()
    gate = Gate({"alice": hash_token(token)}, rate=10)
    assert gate.presented_tokens == {}
    gate.account(bearer(token))
    assert gate.presented_tokens == {"alice": token}


def test_replaced_accounts_take_over_and_a_revoked_token_is_no_longer_forwarded() -> None:
    kept, revoked, added = new_token(), new_token(), new_token()
    gate = Gate({"alice": hash_token(kept), "bob": hash_token(revoked)}, rate=10)
    gate.account(bearer(kept))
    gate.account(bearer(revoked))
    gate.replace_accounts({"alice": hash_token(kept), "carol": hash_token(added)})
    assert gate.account(bearer(added)) == "carol"
    assert gate.account(bearer(kept)) == "alice"
    with pytest.raises(Unauthenticated):
        gate.account(bearer(revoked))
    assert gate.presented_tokens == {"alice": kept, "carol": added}


def bearer(token: str) -> Any:
    return FakeContext(("authorization", f"Bearer {token}"))


def dome_cli(*argv: str) -> int:
    """A ``dome`` command in this process (``cli.main`` would exit and bind to a parent)."""
    args = cli.build_parser().parse_args(list(argv))
    code: int = args.func(args)
    return code


def test_call_slots_shed_typed_past_the_limit() -> None:
    from dome.engine.errors import Overloaded, status_code
    from dome.engine.security import CallSlots

    slots = CallSlots(2)
    with slots.hold(), slots.hold():
        with pytest.raises(Overloaded, match="retry with backoff") as refused, slots.hold():
            pass  # pragma: no cover
        assert status_code(refused.value) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert slots.held == 0
    with slots.hold():
        assert slots.held == 1
