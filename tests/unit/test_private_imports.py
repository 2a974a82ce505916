"""No code of ours imports a library's private module (``kopf._cogs``, ``kubernetes._x``).

A module whose name starts with an underscore is outside its library's promise: any
release may move it, and depending on one forces an exact pin (the operator once
reached the API server through ``kopf._cogs.clients`` and pinned kopf to one version
for it). So every import in the project's Python (sources, operator, tests, dashboards,
examples) is read from the source (``ast``, imports inside functions included) and any
name with a private component below a third-party top package fails here, naming the
file and line. The gRPC stubs protoc generates (``*_pb2_grpc.py``) are not ours to edit
and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREES = ("src", "operator", "tests", "dashboards", "examples")
#: Our own top-level packages and test helpers, whose private modules are ours to use.
OURS = ("dome", "dome_operator")


def _private_component(name: str) -> bool:
    """True for ``kopf._cogs.clients`` (not for ``__future__``-style dunders)."""
    return any(part.startswith("_") and not part.startswith("__") for part in name.split("."))


def local_names() -> frozenset[str]:
    """Top-level names that are the project's own: packages and every module file (tests
    import sibling helper modules such as ``test_cli_up_failover`` by bare name)."""
    names = set(OURS)
    for tree in TREES:
        for path in (ROOT / tree).rglob("*.py"):
            names.add(path.stem)
            names.update(path.relative_to(ROOT / tree).parts[:-1])
    return frozenset(names)


def private_imports(path: Path, ours: frozenset[str] = frozenset(OURS)) -> list[str]:
    """``file:line: module`` for each third-party private module ``path`` imports."""
    found = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # ``from kopf import _cogs`` imports kopf._cogs as much as the dotted form.
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in ours:
                continue
            if _private_component(name.partition(".")[2]):
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                found.append(f"{shown}:{node.lineno}: {name}")
    return found


def test_a_private_import_is_found(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text("import kopf.testing\ndef f():\n    from kopf._cogs.clients import api\n")
    assert private_imports(module) == [
        f"{module}:3: kopf._cogs.clients",
        f"{module}:3: kopf._cogs.clients.api",
    ]


def test_private_component_rule() -> None:
    assert _private_component("_cogs.clients")
    assert not _private_component("testing")
    assert not _private_component("__main__")


def test_no_third_party_private_module_is_imported() -> None:
    found = []
    files = 0
    ours = local_names()
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            if path.name.endswith("_pb2_grpc.py") or ".venv" in path.parts:
                continue
            files += 1
            found.extend(private_imports(path, ours))
    assert files > 100, "no sources found"
    assert found == [], "private modules of other libraries:\n" + "\n".join(found)
