"""The example Exchange's header comment counts what its spec holds.

It is the first manifest a new user reads, and its comment once said four symbols over a
spec that lists three. The counts in words ("three engines", "three symbols") must be
the spec's ``engines`` and number of ``instruments``.
"""

from __future__ import annotations

import re

from operator_helpers import EXAMPLES, load_yaml

NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}


def counted(comment: str, noun: str) -> list[int]:
    """Every "<number word> <noun>" in ``comment``, as integers.

    >>> counted("three engines, four symbols, two symbols", "symbols")
    [4, 2]
    """
    words = "|".join(NUMBERS)
    return [NUMBERS[w] for w in re.findall(rf"\b({words})\s+{noun}\b", comment.lower())]


def test_the_example_comment_counts_its_engines_and_symbols() -> None:
    text = (EXAMPLES / "exchange.yaml").read_text()
    comment = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    spec = load_yaml(EXAMPLES / "exchange.yaml")["spec"]
    assert counted(comment, "engines") == [spec["engines"]]
    assert counted(comment, "symbols") == [len(spec["instruments"])]
