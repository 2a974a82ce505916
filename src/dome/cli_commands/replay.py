"""``dome replay``: being built in this session (issue 3); replaced before it lands."""

from __future__ import annotations

from typing import Any

from dome.cli_commands.common import fail


def register(sub: Any) -> None:
    """Add ``dome replay`` to the ``dome`` parser."""
    p = sub.add_parser("replay", help="(being built)")
    p.set_defaults(func=lambda args: fail("not built yet", 2))
