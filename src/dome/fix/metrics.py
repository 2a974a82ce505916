"""The gateway's Prometheus metrics (``dome_fix_*``), on a registry of its own.

Labels stay bounded: MsgType is one of the types FIX 4.4 defines that the gateway
meets (any other value counts as ``other``), outcomes and kinds are fixed words; never
an account, ClOrdID or order id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: MsgTypes counted by name; anything else a peer sends is "other".
KNOWN_MSG_TYPES = frozenset(
    ["0", "1", "2", "3", "4", "5", "8", "9", "A", "D", "F", "G", "H", "V", "W", "X", "Y", "j"]
)


def msg_type_label(msg_type: str) -> str:
    """A bounded label value for a MsgType.

    >>> msg_type_label("D"), msg_type_label("ZZ")
    ('D', 'other')
    """
    return msg_type if msg_type in KNOWN_MSG_TYPES else "other"


class FixMetrics:
    """Counters and gauges of one gateway process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sessions = Gauge(
            "dome_fix_sessions", "FIX sessions logged on now", registry=self.registry
        )
        self.messages = Counter(
            "dome_fix_messages_total",
            "FIX messages by direction (in, out) and MsgType",
            ["direction", "msg_type"],
            registry=self.registry,
        )
        self.logons = Counter(
            "dome_fix_logons_total",
            "Logon attempts by outcome (accepted, refused)",
            ["outcome"],
            registry=self.registry,
        )
        self.rejects = Counter(
            "dome_fix_rejects_total",
            "Rejects sent, by kind (session, business, order, cancel, market_data)",
            ["kind"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "dome_fix_request_seconds",
            "From an application message received to its answers sent, by MsgType",
            ["msg_type"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
