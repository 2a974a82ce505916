"""The decisions behind growing the engine volumes (``dome_operator.volumes``), pure.

Which claims to resize, which are still growing, and the StatefulSet that keeps its
claim template when a resize is refused. The requests themselves run against the real
API server in tests/kube/test_kube_storage.py.
"""

from __future__ import annotations

from typing import Any

from operator_helpers import EXAMPLES, as_admitted, load_yaml

from dome_operator import render
from dome_operator.placement import Unavailable
from dome_operator.status import Children, EngineSet, exchange_status
from dome_operator.volumes import claim_size, claims_to_grow, growing, keeping_claim_template


def _claim(name: str, requested: str, capacity: str | None = None) -> dict[str, Any]:
    claim: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {"resources": {"requests": {"storage": requested}}},
    }
    if capacity is not None:
        claim["status"] = {"phase": "Bound", "capacity": {"storage": capacity}}
    return claim


def _rendered(size: str) -> list[dict[str, Any]]:
    exchange = as_admitted(load_yaml(EXAMPLES / "exchange.yaml"))
    exchange["spec"]["storage"] = {"size": size}
    return render(exchange)


def _engines(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == "StatefulSet"]
    return found


def test_the_claim_template_size_is_the_spec_size() -> None:
    assert claim_size(_engines(_rendered("5Gi"))) == "5Gi"
    assert claim_size({"spec": {}}) is None


def test_only_claims_below_the_size_grow_compared_as_quantities() -> None:
    claims = [
        _claim("data-demo-engine-2", "1Gi"),
        _claim("data-demo-engine-0", "1024Mi"),
        _claim("data-demo-engine-1", "2Gi"),  # already there (a retry after a crash)
        _claim("data-demo-engine-3", "3Gi"),  # larger by hand: never shrunk
    ]
    assert claims_to_grow(claims, "2Gi") == ["data-demo-engine-0", "data-demo-engine-2"]
    assert claims_to_grow(claims, "1Gi") == []


def test_a_claim_grows_until_its_volume_is_as_large() -> None:
    claims = [
        _claim("data-demo-engine-1", "2Gi", capacity="1Gi"),
        _claim("data-demo-engine-0", "2Gi", capacity="2Gi"),
        _claim("data-demo-engine-2", "2Gi", capacity="10Gi"),  # a larger static volume
        _claim("data-demo-engine-3", "2Gi"),  # not bound yet: nothing to say
    ]
    assert growing(claims) == ["data-demo-engine-1: 1Gi of 2Gi"]


def test_a_refused_resize_keeps_the_live_claim_template_and_nothing_else() -> None:
    live = _engines(_rendered("1Gi"))
    objects = _rendered("2Gi")
    kept = keeping_claim_template(objects, live)
    assert claim_size(_engines(kept)) == "1Gi"
    assert claim_size(_engines(objects)) == "2Gi", "the render itself is left alone"
    others = [o for o in kept if o["kind"] != "StatefulSet"]
    assert others == [o for o in objects if o["kind"] != "StatefulSet"]
    template = _engines(kept)["spec"]["template"]
    assert template == _engines(objects)["spec"]["template"]


def test_growing_volumes_keep_the_exchange_progressing() -> None:
    exchange = as_admitted(load_yaml(EXAMPLES / "exchange.yaml"))
    engines = EngineSet(3, 3, 3, 3, 1, 1)
    children = Children(engines, True, volumes_growing=("data-demo-engine-1: 1Gi of 2Gi",))
    status = exchange_status(
        exchange, children, degraded=None, placement=Unavailable("not asked"),
        endpoint=None, selector=None, generation=1, now="2026-01-01T00:00:00Z",
    )  # fmt: skip
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Progressing"]["status"] == "True"
    assert conditions["Progressing"]["reason"] == "ExpandingVolumes"
    assert "data-demo-engine-1: 1Gi of 2Gi" in conditions["Progressing"]["message"]
    assert conditions["Ready"]["status"] == "True", "a growing volume serves meanwhile"
