"""The kind session: one cluster for every e2e test, and what it shows when one fails.

A cluster, an image build and a chart install cost minutes, so the session pays them
once and the tests run in order against it (trade, scale, roll, delete). Tests marked
``e2e`` run only when selected (``pytest -m e2e``, i.e. ``make e2e``); in a plain run
they are skipped with that reason, and where Docker or kind is missing they are skipped
with the reason why. On any failure the report gets the cluster's events, the Exchange,
the pods and their logs. ``DOME_E2E_KEEP=1`` keeps the cluster afterwards (its name and
kubeconfig are printed) to look around in.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Generator, Iterator

import pytest
from kind_cluster import IMAGE_TAG, KindCluster, missing_prerequisites

CLUSTER_KEY = pytest.StashKey[KindCluster]()


def _selected_by_marker(config: pytest.Config) -> bool:
    expression: str = config.getoption("markexpr") or ""
    return "e2e" in expression and "not e2e" not in expression


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _selected_by_marker(config):
        return
    skip = pytest.mark.skip(reason="kind e2e tests run only when selected: make e2e (-m e2e)")
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KindCluster]:
    """A kind cluster with the image loaded, the chart installed and the example
    Exchange Ready; deleted at the end unless DOME_E2E_KEEP=1."""
    missing = missing_prerequisites()
    if missing:
        pytest.skip("kind e2e needs Docker and kind: " + "; ".join(missing))
    kind = KindCluster(f"dome-e2e-{secrets.token_hex(3)}", tmp_path_factory.mktemp("kind"))
    request.config.stash[CLUSTER_KEY] = kind
    try:
        kind.create()
        kind.build_image(IMAGE_TAG)
        kind.install_chart(IMAGE_TAG)
        kind.apply_example(IMAGE_TAG)
        kind.wait_ready()
    except BaseException:
        # Capture now: the cluster is deleted below, before pytest reports the error.
        kind.captured = kind.diagnostics()
        _teardown(kind)
        raise
    try:
        yield kind
    finally:
        _teardown(kind)


def _teardown(kind: KindCluster) -> None:
    if os.environ.get("DOME_E2E_KEEP") == "1" and kind.created:
        sys.stderr.write(
            f"\nDOME_E2E_KEEP=1: kind cluster {kind.name} kept; "
            f"KUBECONFIG={kind.kubeconfig}; `kind delete cluster --name {kind.name}` removes it\n"
        )
        return
    kind.delete()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    kind = item.config.stash.get(CLUSTER_KEY, None)
    if report.failed and kind is not None and item.get_closest_marker("e2e"):
        if kind.captured is not None:
            text, kind.captured = kind.captured, None
        else:
            text = kind.diagnostics()
        report.sections.append(("kind cluster " + kind.name, text))
    return report
