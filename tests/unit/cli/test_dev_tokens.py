"""Dev tokens that `dome up` writes work when pasted after `--token` on a command line."""

from __future__ import annotations

import argparse
import string

from dome.cli_commands.up import new_token


def test_tokens_are_hex_and_never_look_like_an_option() -> None:
    tokens = [new_token() for _ in range(2000)]
    assert len(set(tokens)) == len(tokens)
    assert all(len(t) == 32 and set(t) <= set(string.hexdigits) for t in tokens)
    parser = argparse.ArgumentParser()
    parser.add_argument("--token")
    assert all(parser.parse_args(["--token", t]).token == t for t in tokens)
