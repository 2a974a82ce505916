"""``python -m dome.engine``: run one engine node until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import sys

from dome.engine.config import add_engine_arguments
from dome.engine.server import serve_from_args
from dome.lifetime import stop_with_parent
from dome.stacks import dump_stacks_on_signal


def main(argv: list[str] | None = None) -> int:
    """Parse options and serve; 0 after a graceful stop, 2 on a bad configuration."""
    stop_with_parent()  # when started by `dome up`, end with it
    dump_stacks_on_signal()  # kill -USR1: where each thread is (dome.stacks)
    parser = argparse.ArgumentParser(prog="python -m dome.engine", description=__doc__)
    add_engine_arguments(parser)
    asyncio.run(serve_from_args(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
