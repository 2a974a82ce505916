"""``dome accounts``: make and migrate accounts files without a token ever at rest in clear.

- ``dome accounts hash FILE``: turns an accounts file with tokens in clear (one from
  before hashing, or a tokens file) into the hashed file engines read: in place
  (``--in-place``, owner-only) or to stdout, e.g. for a Kubernetes Secret::

      dome accounts hash tokens.json > accounts.json
      kubectl create secret generic demo-accounts --from-file=accounts.json

- ``dome accounts new NAME...``: fresh random tokens for the named accounts, written as
  a tokens file (``--tokens``, owner-only, for the clients) and the hashed accounts file
  (``--accounts``, for the engines), so the clear tokens exist in one client-side file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dome.accounts import (
    AccountsFileError,
    hash_accounts,
    load_accounts,
    load_tokens,
    new_token,
    write_accounts,
)
from dome.cli_commands.common import fail
from dome.files import write_json


def register(sub: Any) -> None:
    """Add ``dome accounts`` to the ``dome`` parser."""
    p = sub.add_parser("accounts", help="hash accounts files; make accounts with new tokens")
    actions = p.add_subparsers(dest="action", required=True)
    hashing = actions.add_parser(
        "hash", help="hash the tokens of an accounts file (what engines read)"
    )
    hashing.add_argument("file", type=Path, help='JSON object {"account": "token", ...}')
    hashing.add_argument(
        "--in-place", action="store_true", help="rewrite FILE instead of printing the result"
    )
    hashing.set_defaults(func=_hash)
    new = actions.add_parser("new", help="new random tokens: a tokens file and its hashed twin")
    new.add_argument("names", nargs="+", help="account names")
    new.add_argument("--tokens", type=Path, required=True, help="tokens file to write (clients)")
    new.add_argument(
        "--accounts", type=Path, required=True, help="hashed accounts file to write (engines)"
    )
    new.set_defaults(func=_new)


def _hash(args: argparse.Namespace) -> int:
    try:
        # load_accounts hashes what is in clear and keeps what is hashed; it warns for
        # clear tokens, which is what this command fixes, so read through the raw checks.
        hashed = hash_accounts(_read_either(args.file))
    except AccountsFileError as exc:
        return fail(f"error: {exc}", 2)
    if args.in_place:
        write_json(args.file, hashed, private=True)
        print(f"dome: {args.file}: {len(hashed)} account(s), tokens hashed", file=sys.stderr)
    else:
        print(json.dumps(hashed, indent=2))
    return 0


def _read_either(path: Path) -> dict[str, str]:
    try:
        return load_tokens(path)
    except AccountsFileError:
        return load_accounts(path)  # partly or wholly hashed already


def _new(args: argparse.Namespace) -> int:
    if len(set(args.names)) != len(args.names):
        return fail("error: an account name appears twice", 2)
    tokens = {name: new_token() for name in args.names}
    write_json(args.tokens, tokens, private=True)
    write_accounts(args.accounts, tokens)
    print(
        f"dome: tokens in {args.tokens} (keep it private), hashes for engines in {args.accounts}",
        file=sys.stderr,
    )
    return 0
