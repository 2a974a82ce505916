"""``python -m dome.fix``: the same gateway as ``dome fix``, without the rest of the CLI."""

from __future__ import annotations

import argparse
import sys

from dome.cli_commands.fix import add_fix_arguments, run
from dome.lifetime import stop_with_parent
from dome.stacks import dump_stacks_on_signal


def main() -> None:
    stop_with_parent()  # when started by `dome up`, end with it
    dump_stacks_on_signal()  # kill -USR1: where each thread is (dome.stacks)
    parser = argparse.ArgumentParser(prog="dome fix", description="Run the FIX 4.4 gateway.")
    add_fix_arguments(parser)
    sys.exit(run(parser.parse_args(), parser))


if __name__ == "__main__":
    main()
