"""Rendered manifests match the reviewed golden files byte for byte.

A change to the render shows up as a diff of tests/operator/golden/*.yaml in review.
Regenerate them with ``UPDATE_GOLDEN=1 pytest tests/operator`` after a deliberate change.
"""

from __future__ import annotations

import os

import pytest
import yaml
from operator_helpers import GOLDEN, dump_manifests
from render_cases import CASES, RenderCase


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_render_matches_golden_file(case: RenderCase) -> None:
    objects = case.render()
    rendered = dump_manifests(objects)
    golden = GOLDEN / f"{case.name}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(rendered)
    assert golden.exists(), f"no {golden.name}: run UPDATE_GOLDEN=1 pytest tests/operator"
    assert rendered == golden.read_text(), (
        f"render output differs from {golden.name}; if the change is intended, "
        "regenerate with UPDATE_GOLDEN=1 pytest tests/operator and review the diff"
    )
    # The file is what `kubectl apply -f` would send: it must read back as the objects.
    assert list(yaml.safe_load_all(rendered)) == objects


def test_every_golden_file_belongs_to_a_case() -> None:
    names = {case.name for case in CASES}
    assert {path.stem for path in GOLDEN.glob("*.yaml")} <= names
