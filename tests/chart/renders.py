"""Every manifest DOME ships, rendered as a cluster would receive it, for the scanners.

Two sources: the chart through a real `helm template` (every values case of
chart_render.MATRIX, plus an image pinned by digest), and the operator's render of every
Exchange the render tests use (the example in examples/k8s among them), again plus an
image pinned by digest. The hardening tests (checkov, Pod Security) judge all of them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))
from chart_render import MATRIX
from chart_render import render as helm_template
from operator_helpers import dump_manifests
from render_cases import CASES

from dome_operator import render

Obj = dict[str, Any]

#: Any well-formed digest: the scanners judge the reference, nothing pulls it.
DIGEST = "sha256:" + "0123456789abcdef" * 4


@dataclass(frozen=True)
class Render:
    name: str
    objects: list[Obj]
    #: Whether the images are pinned by digest.
    pinned: bool


def chart_renders() -> list[Render]:
    renders = [
        Render(f"chart-{case}", helm_template(*flags), False) for case, flags in MATRIX.items()
    ]
    pinned = helm_template("--set", f"image.digest={DIGEST}")
    return [*renders, Render("chart-digest", pinned, True)]


def operator_renders() -> list[Render]:
    renders = []
    for case in CASES:
        renders.append(Render(f"operator-{case.name}", case.render(), False))
        exchange = case.exchange()
        exchange["spec"].setdefault("image", {})["digest"] = DIGEST
        pinned = render_exchange(exchange, case)
        renders.append(Render(f"operator-{case.name}-digest", pinned, True))
    return renders


def render_exchange(exchange: Obj, case: Any) -> list[Obj]:
    return render(
        exchange, available_apis=case.available_apis, operator_namespace=case.operator_namespace
    )


def write(renders: list[Render], directory: Path) -> dict[str, Render]:
    """One file per render; returns file name -> render."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for item in renders:
        path = directory / f"{item.name}.yaml"
        path.write_text(dump_manifests(item.objects))
        files[path.name] = item
    return files


def pod_specs(objects: list[Obj]) -> list[tuple[str, Obj, Obj]]:
    """(kind/name, pod metadata, pod spec) of every pod an object creates."""
    pods = []
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "Pod":
            pods.append((f"{kind}/{name}", obj["metadata"], obj["spec"]))
        elif kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            template = obj["spec"]["template"]
            pods.append((f"{kind}/{name}", template.get("metadata", {}), template["spec"]))
    return pods
