"""The engine node: gRPC trading and market-data services over per-symbol sequencers.

The public surface is what ``dome.cli`` and tests need to run an engine: the config,
its command-line options, and ``serve``.
"""

from dome.engine.config import EngineConfig, add_engine_arguments, config_from_args
from dome.engine.server import serve, serve_from_args
from dome.serving import ReadyInfo

__all__ = [
    "EngineConfig",
    "ReadyInfo",
    "add_engine_arguments",
    "config_from_args",
    "serve",
    "serve_from_args",
]
