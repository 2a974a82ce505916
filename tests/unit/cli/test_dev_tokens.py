"""Dev tokens that `dome up` writes work when pasted after `--token` on a command line."""

from __future__ import annotations

import argparse
import string

from dome.accounts import TOKEN_BYTES, new_token


def test_tokens_are_hex_and_never_look_like_an_option() -> None:
    tokens = [new_token() for _ in range(2000)]
    assert len(set(tokens)) == len(tokens)
    # 192 bits: enough that an unsalted SHA-256 of one reveals nothing (dome.accounts).
    assert TOKEN_BYTES * 8 >= 192
    assert all(len(t) == 2 * TOKEN_BYTES and set(t) <= set(string.hexdigits) for t in tokens)
    parser = argparse.ArgumentParser()
    parser.add_argument("--token")
    assert all(parser.parse_args(["--token", t]).token == t for t in tokens)
