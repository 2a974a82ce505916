"""``dome engine``: run one engine node, with exactly the engine package's own arguments.

The engine owns its command line (``add_engine_arguments``, ``config_from_args``) and its
server (``serve``); this module only hands over, so ``dome engine`` and
``python -m dome.engine`` can never drift apart.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """List ``dome engine`` in help; ``dome.cli.main`` hands its arguments over unparsed."""
    sub.add_parser("engine", help="run one matching engine node (see `dome engine --help`)")


def run(argv: list[str]) -> int:
    """Parse ``argv`` with the engine's own parser and serve until SIGINT/SIGTERM."""
    import asyncio
    import sys

    from dome.accounts import AccountsFileError
    from dome.cores import CoreError
    from dome.engine import add_engine_arguments, config_from_args, serve
    from dome.engine.config import ConfigError
    from dome.engine.server import tune_gc
    from dome.instrument_spec import InstrumentFileError
    from dome.json_logs import configure

    parser = argparse.ArgumentParser(prog="dome engine", description="Run one engine node.")
    add_engine_arguments(parser)
    args = parser.parse_args(argv)
    configure(args.log_level, engine=args.engine_id)
    try:
        config = config_from_args(args)
    except (InstrumentFileError, AccountsFileError, ConfigError, CoreError) as exc:
        print(f"dome: error: {exc}", file=sys.stderr)
        return 2
    tune_gc()
    asyncio.run(serve(config))
    return 0
