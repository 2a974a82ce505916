"""The accounts file: which accounts exist and the bearer token of each.

One JSON object, ``{"alice": "token-a", "bob": "token-b"}``. The engine reads it to
authenticate calls; ``dome up`` and ``dome simulate`` read it to trade as those accounts.
One reader, so a file the CLI accepts is a file the engine accepts.
"""

from __future__ import annotations

import json
from pathlib import Path


class AccountsFileError(ValueError):
    """The accounts file is unreadable or not a JSON object of account -> token."""


def load_accounts(path: str | Path) -> dict[str, str]:
    """Read ``{"alice": "token-a", ...}``; raises ``AccountsFileError``.

    Names and tokens must be non-empty strings, and no two accounts may share a token
    (a token names exactly one account).
    """
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AccountsFileError(f"cannot read accounts file {path}: {exc}") from None
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in raw.items()
    ):
        raise AccountsFileError(f"{path}: expected a JSON object of account name -> token")
    if len(set(raw.values())) != len(raw):
        raise AccountsFileError(f"{path}: two accounts share a token")
    return dict(raw)
