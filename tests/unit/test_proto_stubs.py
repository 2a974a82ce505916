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


def test_the_reject_reasons_of_the_wire_and_the_cores_agree() -> None:
    """One reject-reason list: the proto enum mirrors ``dome.core.types.RejectReason``
    name for name and number for number (zero is "unspecified" on the wire)."""
    from dome.core.types import RejectReason
    from dome.v1 import common_pb2

    wire = {
        v.number: v.name.removeprefix("REJECT_REASON_")
        for v in common_pb2.DESCRIPTOR.enum_types_by_name["RejectReason"].values
    }
    core = {int(r): r.name for r in RejectReason}
    core[0] = "UNSPECIFIED"
    assert wire == core
    for reason in RejectReason:
        assert reason.message  # every reason has its sentence
