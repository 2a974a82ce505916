"""``dome.discovery`` imports only what the importer asks for (issue 12, item 4)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dome.discovery


def _loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``statement``."""
    probe = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=60
    )
    return set(out.stdout.split())


def test_the_engine_side_agent_does_not_load_the_server_or_the_kubernetes_store() -> None:
    loaded = _loaded_after("import dome.discovery.agent")
    assert "dome.discovery.agent" in loaded
    unwanted = {"dome.discovery.server", "dome.discovery.service", "dome.discovery.kube_store"}
    assert unwanted & loaded == set()
    assert not any(m == "kubernetes" or m.startswith("kubernetes.") for m in loaded)


def test_the_package_itself_loads_no_submodule() -> None:
    loaded = _loaded_after("import dome.discovery")
    assert sorted(m for m in loaded if m.startswith("dome.discovery.")) == []


@pytest.mark.parametrize("name", dome.discovery.__all__)
def test_every_public_name_resolves_to_its_home(name: str) -> None:
    value = getattr(dome.discovery, name)
    assert value.__module__.startswith("dome.discovery.")
    assert name in dir(dome.discovery)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nonesuch'"):
        _ = dome.discovery.Nonesuch  # type: ignore[attr-defined]


def test_all_names_exactly_the_lazy_names() -> None:
    assert sorted(dome.discovery.__all__) == sorted(dome.discovery._HOMES)
