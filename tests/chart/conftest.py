"""The chart rendered under every values case of ``chart_render.MATRIX``, once per module."""

from __future__ import annotations

import pytest
from chart_render import MATRIX, Obj, render


@pytest.fixture(scope="module", params=sorted(MATRIX))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    name: str = request.param
    return name, render(*MATRIX[name])
