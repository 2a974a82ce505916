"""Prometheus metrics of the operator: what its reconciles do and what they find.

The kopf handlers are module functions and one operator runs per process, so the
metrics live in one module-level ``OperatorMetrics`` (``METRICS``) with a registry of its
own, not prometheus_client's global one: importing the handlers twice (tests do) never
registers a metric twice, and the page holds only the operator's series. ``dome-operator
--metrics-port`` serves it (``cli``).

Labels stay bounded: closed sets (outcome, action, result, Ready status), never an
Exchange's name, which is what kopf's events and the Exchange's status are for. Every
child is created up front, so a series exists (at 0) before its first event: dashboards
show a healthy operator as 0, not as "no data", and ``increase()`` sees the first event.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: How a reconcile ended: applied and reported; the Exchange was gone or being deleted;
#: an API call failed and kopf retries (TemporaryError); or it cannot succeed as it is
#: (PermanentError: an invalid spec, an object the API server refuses).
OUTCOMES: Final = ("success", "gone", "retry", "failed")
#: What a reconcile did with each rendered object: applied it (it differed from the live
#: one), skipped it (the live object carries the same applied hash), or deleted a child
#: the Exchange no longer renders.
ACTIONS: Final = ("applied", "unchanged", "pruned")
#: The status of an Exchange's Ready condition; Unknown before the first status.
READY_STATUSES: Final = ("True", "False", "Unknown")
#: Whether a GetPlacement to an Exchange's discovery answered.
PLACEMENT_RESULTS: Final = ("ok", "unavailable")

_RECONCILE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class OperatorMetrics:
    """Every series the operator exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.reconciles = Counter(
            "dome_operator_reconciles_total",
            "Exchange reconciles (create, resume, spec update), by outcome.",
            ["outcome"],
            registry=r,
        )
        self.reconcile_seconds = Histogram(
            "dome_operator_reconcile_seconds",
            "Time one reconcile took: render, apply, prune and the status write.",
            buckets=_RECONCILE_BUCKETS,
            registry=r,
        )
        self.objects = Counter(
            "dome_operator_objects_total",
            "Rendered objects a reconcile applied or skipped as unchanged, and children it pruned.",
            ["action"],
            registry=r,
        )
        self.exchanges = Gauge(
            "dome_operator_exchanges",
            "Exchanges this operator reported on, by the status of their Ready condition.",
            ["ready"],
            registry=r,
        )
        self.placement_reads = Counter(
            "dome_operator_placement_reads_total",
            "GetPlacement calls to an Exchange's discovery for its status, by result.",
            ["result"],
            registry=r,
        )
        self.engine_pods_rolled = Counter(
            "dome_operator_engine_pods_rolled_total",
            "Engine pods the operator deleted to roll a new template onto them, one at a time.",
            registry=r,
        )
        for outcome in OUTCOMES:
            self.reconciles.labels(outcome)
        for action in ACTIONS:
            self.objects.labels(action)
        for result in PLACEMENT_RESULTS:
            self.placement_reads.labels(result)
        self._ready: dict[tuple[str, str], str] = {}
        self._count_ready()

    @contextmanager
    def reconciling(self) -> Iterator[None]:
        """Time the ``with`` block as one reconcile."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.reconcile_seconds.observe(time.perf_counter() - started)

    def reconciled(self, outcome: str) -> None:
        """One reconcile ended with ``outcome`` (one of ``OUTCOMES``)."""
        self.reconciles.labels(outcome).inc()

    def handled_objects(self, *, applied: int, unchanged: int, pruned: int) -> None:
        """What one reconcile did with its objects."""
        for action, count in (("applied", applied), ("unchanged", unchanged), ("pruned", pruned)):
            self.objects.labels(action).inc(count)

    def exchange_ready(self, namespace: str, name: str, status: str | None) -> None:
        """The Exchange's Ready condition now; None forgets it (the Exchange is gone)."""
        key = (namespace, name)
        if status is None:
            self._ready.pop(key, None)
        else:
            self._ready[key] = status if status in READY_STATUSES else "Unknown"
        self._count_ready()

    def placement_read(self, answered: bool) -> None:
        """One GetPlacement, answered or not."""
        self.placement_reads.labels("ok" if answered else "unavailable").inc()

    def engine_pod_rolled(self) -> None:
        """A rollout deleted one outdated engine pod (``rollout``)."""
        self.engine_pods_rolled.inc()

    def _count_ready(self) -> None:
        for status in READY_STATUSES:
            self.exchanges.labels(status).set(
                sum(1 for value in self._ready.values() if value == status)
            )


#: The operator's metrics (one operator per process; see the module docstring).
METRICS: Final = OperatorMetrics()
