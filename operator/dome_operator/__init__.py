"""The DOME operator: turns an Exchange custom resource into a running exchange.

The public surface is the pure part: reading an Exchange (``read_exchange``,
``InvalidExchange``) and rendering it (``render`` and the status helpers). Applying the
objects and the kopf handlers build on these.
"""

from dome_operator.exchange import Exchange, InvalidExchange, read_exchange
from dome_operator.render import render, selector, status_endpoint
from dome_operator.versions import OLDEST_SUPPORTED_KUBERNETES

__all__ = [
    "OLDEST_SUPPORTED_KUBERNETES",
    "Exchange",
    "InvalidExchange",
    "read_exchange",
    "render",
    "selector",
    "status_endpoint",
]
