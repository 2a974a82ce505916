"""Status tells the truth while a child is gone: a deleted StatefulSet is not "Creating".

Before drift repair an Exchange whose engine StatefulSet was deleted said "Creating"
forever. The resync now recreates it (test_handlers_drift.py); meanwhile, the status
must say what happened, which it knows from its own last report: it counted engines.
"""

from __future__ import annotations

from typing import Any

from operator_helpers import EXAMPLES, as_admitted, load_yaml

from dome_operator.placement import Unavailable
from dome_operator.status import MISSING, Children, condition, exchange_status


def _status(previous: dict[str, Any]) -> dict[str, Any]:
    exchange = as_admitted(load_yaml(EXAMPLES / "exchange.yaml"))
    exchange["status"] = previous
    return exchange_status(
        exchange,
        Children(engines=None, discovery_available=True),
        degraded=None,
        placement=Unavailable("not asked"),
        endpoint=None,
        selector=None,
        generation=1,
        now="2026-01-01T00:00:00Z",
    )


def test_a_stateful_set_that_existed_and_is_gone_is_missing() -> None:
    status = _status({"engines": 3, "readyEngines": 3})
    for kind, state in (("Ready", "False"), ("Progressing", "True")):
        found = condition(status, kind) or {}
        assert (found.get("status"), found.get("reason")) == (state, MISSING), kind
        assert "deleted" in found["message"]


def test_a_stateful_set_never_made_is_still_being_created() -> None:
    status = _status({})
    assert (condition(status, "Ready") or {}).get("reason") == "Creating"
