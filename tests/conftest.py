"""Which tests share a pytest-xdist worker, when ``make test`` runs the suite on two.

A module's tests stay on one worker, so its module- and class-scoped fixtures (an
engine cluster, a FIX gateway) start once, as in a serial run. The control-plane suite
(tests/kube) is one group: its session fixtures start one kube-apiserver, etcd and
operator, and a second worker would start a second control plane beside the first.
Without xdist (a single file, an IDE) nothing is marked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# Not a doctest module: collecting this file as one would import it a second time under
# the name ``conftest``, which tests/chart's conftest already holds (no packages here).
collect_ignore = ["conftest.py"]

#: Every test under here shares the control plane its session fixtures start.
CONTROL_PLANE_SUITE = Path(__file__).parent / "kube"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (``--dist loadgroup``)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if CONTROL_PLANE_SUITE in item.path.parents:
            group = "control-plane"
        else:
            group = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
