"""The operator end to end: kopf runs the handlers against an emulated API server.

Each test starts ``dome-operator`` (through the same argument list the chart passes),
creates or edits an Exchange through the API, plays the StatefulSet and Deployment
controllers where the scenario needs it, and waits, with deadlines, for what an operator
of the exchange would check: children, owner references, status and conditions, Events,
and requests the operator did or did not make.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
from handler_scenarios import (
    DEPLOYMENTS,
    EXCHANGE,
    NAME,
    STATEFUL_SETS,
    children_writes,
    create,
    exchange,
    play_controllers,
    quick,
    the_exchange,
)
from kube_emulator import PROMETHEUS_RULES, SERVICE_MONITORS, ClusterEmulator
from operator_runtime import (
    NAMESPACE,
    api,
    cluster,
    event_reasons,
    eventually,
    exchange_url,
    free_port,
    has_condition,
    operator,
)

from dome.peer_auth import PeerAuth
from dome_operator import render
from dome_operator.metrics import METRICS
from dome_operator.reporting import NOT_RUNNING
from dome_operator.workloads import INSTRUMENTS_CHECKSUM_ANNOTATION

__all__ = ["cluster", "quick"]  # the fixtures, imported for pytest


async def test_an_exchange_comes_up_scales_and_changes_instruments(
    cluster: ClusterEmulator,
) -> None:
    port = free_port()
    async with operator(liveness_port=port):
        created = await create(cluster, exchange())
        uid = created["metadata"]["uid"]

        # Everything the render lists exists, owned by the Exchange, and it is Progressing.
        expected = render(created)
        for obj in expected:
            path = f"{obj['apiVersion']}/{_plural(obj)}"
            await eventually(
                lambda p=path, n=obj["metadata"]["name"]: cluster.live(p, NAMESPACE, n),
                f"{obj['kind']}/{obj['metadata']['name']}",
            )
            live = cluster.live(path, NAMESPACE, obj["metadata"]["name"])
            assert live is not None
            (owner,) = live["metadata"]["ownerReferences"]
            assert owner == {
                "apiVersion": "dome.dev/v1alpha1",
                "kind": "Exchange",
                "name": NAME,
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        status = (
            await eventually(
                lambda: (
                    has_condition(the_exchange(cluster), "Progressing", "True")
                    and the_exchange(cluster)
                ),
                "Progressing",
            )
        )["status"]
        assert status["observedGeneration"] == 1
        assert status["endpoint"] == f"{NAME}.{NAMESPACE}.svc:7100"
        assert status["selector"] == (
            "app.kubernetes.io/name=dome,app.kubernetes.io/instance=main,"
            "app.kubernetes.io/component=engine"
        )
        # Discovery is not running yet, so the operator does not ask it.
        assert status["placement"] == {"unavailable": NOT_RUNNING.reason}
        assert has_condition(the_exchange(cluster), "Ready", "False")
        assert has_condition(the_exchange(cluster), "Degraded", "False")
        assert "finalizers" not in (the_exchange(cluster) or {})["metadata"]

        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            assert response.status == 200

        # The pods come up: Ready, and an Event says so.
        await play_controllers(cluster, ready=3, revision="main-engine-1")
        ready = await eventually(
            lambda: (
                has_condition(the_exchange(cluster), "Ready", "True", "AllEnginesReady")
                and the_exchange(cluster)
            ),
            "Ready",
        )
        assert ready["status"]["readyEngines"] == 3
        assert ready["status"]["engines"] == 3
        assert has_condition(ready, "Progressing", "False", "Stable")
        await eventually(lambda: "Ready" in event_reasons(cluster, NAME), "a Ready event")
        assert "Applied" in event_reasons(cluster, NAME)

        # kubectl scale exchange/main --replicas=5 (the scale subresource sets spec.engines)
        # reaches the StatefulSet and is reported.
        await api(cluster, "PATCH", exchange_url(NAME, "scale"), {"spec": {"replicas": 5}})
        await eventually(
            lambda: (
                (cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine") or {})["spec"]["replicas"]
                == 5
            ),
            "StatefulSet replicas 5",
        )
        await eventually(lambda: "Scaled" in event_reasons(cluster, NAME), "a Scaled event")
        scaling = await eventually(
            lambda: (
                has_condition(the_exchange(cluster), "Progressing", "True", "Scaling")
                and (the_exchange(cluster) or {})["status"]["observedGeneration"] == 2
                and the_exchange(cluster)
            ),
            "Progressing while scaling, generation 2 observed",
        )
        assert has_condition(scaling, "Ready", "False")
        await play_controllers(cluster, ready=5, revision="main-engine-1")
        await eventually(
            lambda: (
                has_condition(the_exchange(cluster), "Ready", "True")
                and (the_exchange(cluster) or {})["status"]["readyEngines"] == 5
            ),
            "Ready with 5 engines",
        )

        # A new instrument: the ConfigMap carries it and the pod template's checksum moves,
        # which is what rolls the engines.
        before = cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine")
        assert before is not None
        instruments = [
            *EXCHANGE["spec"]["instruments"],
            {**EXCHANGE["spec"]["instruments"][0], "symbol": "ETH-USD"},
        ]
        await api(cluster, "PATCH", exchange_url(NAME), {"spec": {"instruments": instruments}})
        config_map = await eventually(
            lambda: (
                (cluster.live("v1/configmaps", NAMESPACE, f"{NAME}-instruments") or {})
                .get("data", {})
                .get("instruments.json", "")
                .count("ETH-USD")
                and cluster.live("v1/configmaps", NAMESPACE, f"{NAME}-instruments")
            ),
            "ETH-USD in the ConfigMap",
        )
        assert "BTC-USD" in config_map["data"]["instruments.json"]
        await eventually(
            lambda: (
                _checksum(cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine"))
                != _checksum(before)
            ),
            "a new instruments checksum in the pod template",
        )
        await eventually(
            lambda: has_condition(the_exchange(cluster), "Progressing", "True", "RollingOut"),
            "Progressing while the engines roll",
        )
        await eventually(
            lambda: "InstrumentsChanged" in event_reasons(cluster, NAME),
            "an InstrumentsChanged event",
        )


async def test_a_second_run_with_no_change_patches_nothing(cluster: ClusterEmulator) -> None:
    async with operator():
        await create(cluster, exchange())
        await eventually(
            lambda: has_condition(the_exchange(cluster), "Progressing", "True"), "a first status"
        )
        await play_controllers(cluster, ready=3, revision="main-engine-1")
        await eventually(lambda: has_condition(the_exchange(cluster), "Ready", "True"), "Ready")
    mark = len(cluster.requests)
    before = {action: _objects(action) for action in ("applied", "unchanged", "pruned")}
    successes = _reconciles("success")
    async with operator() as runner:
        # The resume reconcile prunes (only it lists by label), then reads the workloads.
        await eventually(lambda: _reconciled_after(cluster, mark), "the second reconcile to finish")
        await eventually(lambda: _reconciles("success") > successes, "the reconcile counted")
    assert "reconciled: 0 applied, 0 pruned" in runner.output
    # The operator's metrics say the same: every object skipped as unchanged, one Ready.
    assert _objects("applied") == before["applied"]
    assert _objects("pruned") == before["pruned"]
    assert _objects("unchanged") > before["unchanged"]
    assert (
        METRICS.registry.get_sample_value("dome_operator_exchanges", {"ready": "True"}) or 0
    ) >= 1
    assert METRICS.registry.get_sample_value("dome_operator_reconcile_seconds_count")
    assert children_writes(cluster, mark) == []
    status_writes = [r for r in cluster.requests[mark:] if r.subresource == "status"]
    assert status_writes == []


async def test_the_peer_secret_is_made_once_and_never_rotated(cluster: ClusterEmulator) -> None:
    secrets = "v1/secrets"
    name = f"{NAME}-peer-secret"
    async with operator():
        await create(cluster, exchange())
        made = await eventually(lambda: cluster.live(secrets, NAMESPACE, name), "the Secret")
        assert made["metadata"]["ownerReferences"][0]["kind"] == "Exchange"
        value = base64.b64decode(made["data"]["peer-secret"]).decode()
        PeerAuth.from_secret(value)  # a usable secret, not a placeholder
        await eventually(
            lambda: cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine"), "the StatefulSet"
        )
        # A spec edit reconciles again: the StatefulSet changes, the Secret does not.
        mark = len(cluster.requests)
        await api(cluster, "PATCH", exchange_url(NAME, "scale"), {"spec": {"replicas": 4}})
        await eventually(
            lambda: (
                (cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine") or {})
                .get("spec", {})
                .get("replicas")
                == 4
            ),
            "StatefulSet replicas 4",
        )
    kept = cluster.live(secrets, NAMESPACE, name)
    assert kept == made, "the reconcile changed the peer Secret"
    calls = [
        r
        for r in cluster.requests[mark:]
        if r.resource is not None and r.resource.plural == "secrets"
    ]
    # At most a create that found it there (409); never a read, a patch or a delete.
    assert all(r.method == "POST" for r in calls), [str(r.method) for r in calls]


async def test_a_peer_secret_made_beforehand_is_used_as_it_is(cluster: ClusterEmulator) -> None:
    own = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{NAME}-peer-secret", "namespace": NAMESPACE},
        "stringData": {"peer-secret": "made-by-hand-peer-secret-value"},
    }
    await api(
        cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/secrets", own,
        content_type="application/json",
    )  # fmt: skip
    async with operator():
        await create(cluster, exchange())
        await eventually(
            lambda: cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine"), "the StatefulSet"
        )
    live = cluster.live("v1/secrets", NAMESPACE, f"{NAME}-peer-secret")
    assert live is not None
    assert live.get("stringData") == own["stringData"]
    assert "data" not in live


def _reconciles(outcome: str) -> float:
    return (
        METRICS.registry.get_sample_value("dome_operator_reconciles_total", {"outcome": outcome})
        or 0.0
    )


def _objects(action: str) -> float:
    return (
        METRICS.registry.get_sample_value("dome_operator_objects_total", {"action": action}) or 0.0
    )


async def test_an_invalid_exchange_is_degraded_and_creates_nothing(
    cluster: ClusterEmulator,
) -> None:
    invalid = exchange(engines=2, replication={"factor": 3})
    async with operator() as runner:
        await create(cluster, invalid)
        degraded = await eventually(
            lambda: (
                has_condition(the_exchange(cluster), "Degraded", "True", "InvalidSpec")
                and the_exchange(cluster)
            ),
            "Degraded",
        )
        message = next(
            c["message"] for c in degraded["status"]["conditions"] if c["type"] == "Degraded"
        )
        assert "spec.replication.factor" in message
        assert has_condition(degraded, "Ready", "False", "InvalidSpec")
        await eventually(
            lambda: "InvalidSpec" in event_reasons(cluster, NAME), "an InvalidSpec event"
        )
    assert "failed permanently" in runner.output
    assert _reconciles("failed") >= 1
    assert children_writes(cluster, 0) == []
    assert cluster.named(STATEFUL_SETS) == {}


async def test_switched_off_objects_are_pruned_and_deletion_is_left_to_the_collector(
    cluster: ClusterEmulator,
) -> None:
    cluster.declare(SERVICE_MONITORS, PROMETHEUS_RULES)
    monitors, rules = SERVICE_MONITORS[0], PROMETHEUS_RULES[0]
    async with operator():
        await create(cluster, exchange(metrics={"serviceMonitor": True, "prometheusRule": True}))
        await eventually(lambda: cluster.live(monitors, NAMESPACE, NAME), "the ServiceMonitor")
        rule = await eventually(lambda: cluster.live(rules, NAMESPACE, NAME), "the PrometheusRule")
        assert rule["metadata"]["ownerReferences"][0]["kind"] == "Exchange"
        assert "main-engine-headless" in rule["spec"]["groups"][0]["rules"][0]["expr"]

        await api(cluster, "PATCH", exchange_url(NAME), {"spec": {"metrics": None}})
        await eventually(
            lambda: cluster.live(monitors, NAMESPACE, NAME) is None, "the ServiceMonitor pruned"
        )
        await eventually(
            lambda: cluster.live(rules, NAMESPACE, NAME) is None, "the PrometheusRule pruned"
        )
        await eventually(lambda: "Pruned" in event_reasons(cluster, NAME), "a Pruned event")
        assert cluster.live(STATEFUL_SETS, NAMESPACE, f"{NAME}-engine") is not None

        # Deleting the Exchange: the garbage collector (the emulator's) removes every child
        # by its owner reference, and the operator recreates nothing.
        mark = len(cluster.requests)
        await api(cluster, "DELETE", exchange_url(NAME))
        await eventually(
            lambda: (
                not any(cluster.named(f"apps/v1/{kind}") for kind in ("statefulsets",))
                and not cluster.named(DEPLOYMENTS)
                and not cluster.named("v1/configmaps")
            ),
            "the children to be collected",
        )
    assert children_writes(cluster, mark) == []
    assert the_exchange(cluster) is None


def _reconciled_after(cluster: ClusterEmulator, mark: int) -> bool:
    paths = [r.url.path for r in cluster.requests[mark:] if r.method == "GET"]
    pruned = [i for i, path in enumerate(paths) if path.endswith("/networkpolicies")]
    return bool(pruned) and any(
        path.endswith(f"/deployments/{NAME}-discovery") for path in paths[pruned[0] :]
    )


def _plural(obj: dict[str, Any]) -> str:
    from dome_operator.manifests import CREATED_ONCE, RESOURCES

    key = (obj["apiVersion"], obj["kind"])
    return RESOURCES[key] if key in RESOURCES else CREATED_ONCE[key]


def _checksum(stateful_set: dict[str, Any] | None) -> str:
    assert stateful_set is not None
    annotations = stateful_set["spec"]["template"]["metadata"]["annotations"]
    checksum: str = annotations[INSTRUMENTS_CHECKSUM_ANNOTATION]
    return checksum
