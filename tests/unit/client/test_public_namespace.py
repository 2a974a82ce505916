"""``dome.client`` is the one namespace a bot author needs, and its API reference builds."""

from __future__ import annotations

from pathlib import Path

import pytest

import dome.client

#: What a bot author had to import from elsewhere before (issue 14).
NEEDED = {"Side", "OrderType", "BotAction", "InstrumentSpec", "BotRunner", "Execution", "Fill"}


def test_every_type_a_bot_needs_is_exported() -> None:
    assert set(dome.client.__all__) >= NEEDED
    for name in dome.client.__all__:
        assert getattr(dome.client, name) is not None


def test_the_api_reference_renders_every_export(tmp_path: Path) -> None:
    pdoc = pytest.importorskip("pdoc", reason="pdoc comes with the dev extra (make docs)")
    pdoc.render.configure(docformat="restructuredtext")
    pdoc.pdoc("dome.client", output_directory=tmp_path)
    page = (tmp_path / "dome" / "client.html").read_text()
    missing = [name for name in dome.client.__all__ if f'id="{name}"' not in page]
    assert not missing, missing
