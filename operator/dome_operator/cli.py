"""``dome-operator``: ``kopf run`` for the DOME handlers, with the chart's arguments.

The chart runs ``dome-operator --standalone --liveness=http://0.0.0.0:8080/healthz``
plus ``--namespace=NS`` per watched namespace or ``--all-namespaces``. Those, and kopf's
``--verbose``/``--debug``/``--quiet``/``--log-format``, are kopf's own ``run`` options, so
this wrapper only names the handler module: one way to start the operator, and the
tests start it through the same argument list (``kopf_arguments``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import kopf.cli

HANDLERS_MODULE = "dome_operator.handlers"


def kopf_arguments(argv: Sequence[str]) -> list[str]:
    """kopf's command line for ``dome-operator ARGV``."""
    return ["run", "--module", HANDLERS_MODULE, *argv]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the operator until it is signalled to stop."""
    arguments = kopf_arguments(sys.argv[1:] if argv is None else argv)
    kopf.cli.main.main(args=arguments, prog_name="dome-operator")
