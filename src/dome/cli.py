"""The ``dome`` command: run an exchange, trade on it, watch it, benchmark it.

One parser, with each group of subcommands registered by its module in
``dome.cli_commands``. Exit codes are part of the contract: 0 done (an exchange reject is
done), 1 could not reach or authenticate with the exchange, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dome.cli_commands import (
    accounts,
    backup,
    bench,
    check,
    discovery,
    engine,
    fix,
    market,
    placement,
    replay,
    simulate,
    trading,
    up,
)
from dome.lifetime import stop_with_parent
from dome.stacks import dump_stacks_on_signal


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dome",
        description="DOME, the Distributed Order Matching Engine. Prices and quantities are "
        "decimal strings in and out.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up.register(sub)
    engine.register(sub)
    discovery.register(sub)
    replay.register(sub)
    simulate.register(sub)
    trading.register(sub)
    market.register(sub)
    bench.register(sub)
    placement.register(sub)
    check.register(sub)
    fix.register(sub)
    accounts.register(sub)
    backup.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: exits with the command's code."""
    stop_with_parent()  # when started by `dome up`, end with it
    dump_stacks_on_signal()  # kill -USR1: where each thread is (dome.stacks)
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["engine"]:
        # The engine parses its own arguments; see dome.cli_commands.engine.
        sys.exit(engine.run(args_list[1:]))
    args = build_parser().parse_args(args_list)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
