"""``dome-operator``: ``kopf run`` for the DOME handlers, plus the operator's metrics.

The chart runs ``dome-operator --standalone --liveness=http://0.0.0.0:8081/healthz
--metrics-port=8080`` plus ``--namespace=NS`` per watched namespace or
``--all-namespaces``. All but ``--metrics-port`` (and kopf's ``--verbose``/``--debug``/
``--quiet``/``--log-format``) are kopf's own ``run`` options, so this wrapper only names
the handler module: one way to start the operator, and the tests start it through the
same argument list (``kopf_arguments``). ``--metrics-port`` is the wrapper's own: kopf's
liveness server answers ``/healthz`` only, so the Prometheus page (``metrics.METRICS``)
gets a server and a port of its own.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import kopf.cli

from dome.serving import serve_metrics
from dome_operator.metrics import METRICS

HANDLERS_MODULE = "dome_operator.handlers"
#: The metrics port when neither ``--metrics-port`` nor this variable is given.
METRICS_PORT_ENV = "DOME_OPERATOR_METRICS_PORT"
DEFAULT_METRICS_PORT = 8080
#: Prometheus scrapes the pod's IP, so the page is served on every interface.
METRICS_HOST = "0.0.0.0"


def kopf_arguments(argv: Sequence[str]) -> list[str]:
    """kopf's command line for ``dome-operator ARGV`` (without the wrapper's options)."""
    return ["run", "--module", HANDLERS_MODULE, *argv]


def split_arguments(argv: Sequence[str]) -> tuple[int, list[str]]:
    """The metrics port (-1: off) and the arguments left for kopf."""
    parser = argparse.ArgumentParser(prog="dome-operator", add_help=False, allow_abbrev=False)
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get(METRICS_PORT_ENV) or DEFAULT_METRICS_PORT),
        help=f"port of the Prometheus metrics page (-1: off; default ${METRICS_PORT_ENV} "
        f"or {DEFAULT_METRICS_PORT})",
    )
    known, rest = parser.parse_known_args(list(argv))
    if not -1 <= known.metrics_port <= 65535:
        parser.error(f"--metrics-port must be -1..65535, not {known.metrics_port}")
    return int(known.metrics_port), rest


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the metrics, then run the operator until it is signalled to stop."""
    port, rest = split_arguments(sys.argv[1:] if argv is None else argv)
    if port >= 0:
        serve_metrics(METRICS.registry, METRICS_HOST, port)
    kopf.cli.main.main(args=kopf_arguments(rest), prog_name="dome-operator")
