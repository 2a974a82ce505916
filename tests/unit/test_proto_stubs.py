"""The committed gRPC stubs are exactly what `make proto` generates from proto/."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / "src" / "dome" / "v1"


def test_stubs_are_not_stale(tmp_path: Path) -> None:
    if shutil.which("protoc-gen-mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("mypy-protobuf is not installed in this environment (make installs it)")
    protos = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "proto" / "dome" / "v1").glob("*.proto")
    )
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-Iproto", f"--python_out={tmp_path}",
         f"--grpc_python_out={tmp_path}", f"--mypy_out={tmp_path}", f"--mypy_grpc_out={tmp_path}",
         *protos],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    fresh = tmp_path / "dome" / "v1"
    generated = sorted(p.name for p in fresh.iterdir())
    committed = sorted(p.name for p in STUBS.iterdir() if p.name != "__init__.py" and p.is_file())
    assert generated == committed, "stub files differ from the protos: run `make proto`"
    _, mismatch, errors = filecmp.cmpfiles(fresh, STUBS, generated, shallow=False)
    assert mismatch + errors == [], "stale stubs: run `make proto`"
