"""Accounts and their bearer tokens: the engine's file holds hashes, clients hold tokens.

Two files, one format (a JSON object of account name -> string):

- the **accounts file**, which engines read (``dome engine --accounts``; on Kubernetes the
  ``accounts.json`` key of the Exchange's accounts Secret), maps each account to the
  SHA-256 of its token, ``{"alice": "sha256:<64 hex>", ...}``. Reading it gives away no
  token. ``write_accounts`` writes one from tokens; ``dome accounts hash`` turns a
  clear-text file into one.
- the **tokens file**, which clients read (``dome simulate``, ``dome fix``, ``dome up
  --accounts``), maps each account to its token in clear, ``{"alice": "token-a"}``.
  ``dome up`` writes it as ``DIR/tokens.json`` (owner-only) beside the hashed
  ``DIR/accounts.json`` it gives its engines.

Why plain SHA-256 and not a salted, slow KDF (scrypt, PBKDF2): tokens are random
secrets of 192 bits (``new_token``), not passwords. Nobody can search 2**192 preimages,
so salt and stretching, which defend guessable passwords, add nothing, while the engine
checks a token on every RPC: a microsecond of SHA-256 is free, tens of milliseconds of
scrypt would cap each connection at a few dozen calls per second or need a cache of
clear tokens. The price: a *guessable* token (a word, a name) would be found from its
hash; tokens must come from ``new_token`` or ``openssl rand -hex 24``.

An accounts file in clear text (from before hashing) is still accepted, so an upgrade
breaks nothing: its tokens are hashed on reading and a warning says to run ``dome
accounts hash``. One reader each, so a file the CLI accepts is a file the engine accepts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from dome.files import write_json

log = logging.getLogger(__name__)

HASH_PREFIX = "sha256:"
_HASHED = re.compile(r"sha256:[0-9a-f]{64}")
#: Bytes of randomness in a token ``new_token`` makes (192 bits).
TOKEN_BYTES = 24


class AccountsFileError(ValueError):
    """An accounts or tokens file is unreadable or not a JSON object of account -> string."""


def new_token() -> str:
    """A fresh random token: 192 bits, in hex, so it is safe on a command line.

    (A URL-safe token can start with "-", and `dome order --token -x...` would then read
    as an option, a usage error one time in 64.)
    """
    return secrets.token_hex(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """What the accounts file stores for ``token``.

    >>> hash_token("token-a")
    'sha256:a70bf50e531ce1a817561f2f5d5b6645d4e806becf58ccc5e8cf6b8045a090a8'
    """
    return HASH_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def is_hashed(value: str) -> bool:
    """Whether an accounts-file value is a hash (``sha256:`` and 64 lowercase hex digits)."""
    return _HASHED.fullmatch(value) is not None


def load_accounts(path: str | Path) -> dict[str, str]:
    """The engine's view: account -> ``sha256:<hex>`` of its token; ``AccountsFileError``.

    Values in clear text are hashed here, with a warning (the migration path from files
    written before hashing). No two accounts may share a token: a token names one account.
    """
    raw = _read(path)
    clear = sorted(account for account, value in raw.items() if not is_hashed(value))
    if clear:
        log.warning(
            "accounts file %s holds %d token(s) in clear text (%s); they work, but anyone "
            "who reads the file can trade as those accounts: run `dome accounts hash %s`",
            path,
            len(clear),
            ", ".join(clear[:5]) + (", ..." if len(clear) > 5 else ""),
            path,
        )
    hashed = hash_accounts(raw)
    if len(set(hashed.values())) != len(hashed):
        raise AccountsFileError(f"{path}: two accounts share a token")
    return hashed


def load_tokens(path: str | Path) -> dict[str, str]:
    """The clients' view: account -> token in clear; ``AccountsFileError``.

    A file of hashes is refused with a message that says which file clients want.
    """
    raw = _read(path)
    hashed = sorted(account for account, value in raw.items() if is_hashed(value))
    if hashed:
        raise AccountsFileError(
            f"{path} holds token hashes (an engine's accounts file), not tokens: clients "
            f"need the tokens themselves (dome up writes them to tokens.json)"
        )
    if len(set(raw.values())) != len(raw):
        raise AccountsFileError(f"{path}: two accounts share a token")
    return raw


def write_accounts(path: str | Path, tokens: Mapping[str, str]) -> None:
    """Write the engine's accounts file for ``tokens`` (hashed; owner-only, atomically)."""
    write_json(Path(path), hash_accounts(tokens), private=True)


def hash_accounts(accounts: Mapping[str, str]) -> dict[str, str]:
    """Every clear value hashed, hashes kept as they are."""
    return {
        account: value if is_hashed(value) else hash_token(value)
        for account, value in accounts.items()
    }


def _read(path: str | Path) -> dict[str, str]:
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AccountsFileError(f"cannot read accounts file {path}: {exc}") from None
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in raw.items()
    ):
        raise AccountsFileError(f"{path}: expected a JSON object of account name -> token")
    return dict(raw)
