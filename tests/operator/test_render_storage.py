"""spec.storage.retainOnDelete: whether deleting an Exchange deletes its engines' volumes.

The StatefulSet's claim retention policy carries it (Kubernetes deletes the claims with
the StatefulSet, which the garbage collector deletes with the Exchange); scaling down
keeps the claims either way, so a scale-up resumes the same journals.
"""

from __future__ import annotations

from typing import Any

import pytest
from operator_helpers import EXAMPLES, as_admitted, load_yaml

from dome_operator import InvalidExchange, render


def _policy(storage: dict[str, Any]) -> dict[str, str]:
    exchange = as_admitted(load_yaml(EXAMPLES / "exchange.yaml"))
    exchange["spec"]["storage"] = storage
    (engines,) = [o for o in render(exchange) if o["kind"] == "StatefulSet"]
    policy: dict[str, str] = engines["spec"]["persistentVolumeClaimRetentionPolicy"]
    return policy


def test_volumes_are_kept_by_default_and_on_scale_down() -> None:
    assert _policy({"size": "1Gi"}) == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert _policy({"retainOnDelete": True}) == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_retain_on_delete_false_deletes_them_with_the_exchange() -> None:
    assert _policy({"retainOnDelete": False}) == {"whenDeleted": "Delete", "whenScaled": "Retain"}


def test_a_non_boolean_is_refused_by_name() -> None:
    with pytest.raises(InvalidExchange, match=r"spec\.storage\.retainOnDelete"):
        _policy({"retainOnDelete": "no"})
