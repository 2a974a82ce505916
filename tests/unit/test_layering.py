"""The house's import arrows, enforced: what each layer may never import.

``test_core_purity.py`` keeps the book core free of I/O, clocks and third-party code;
this test holds that it imports nothing of ours outside itself (``ONLY``), the rest of the
layering (STYLE.md, DESIGN.md section 1) and the one-way order path of the engine
(DESIGN.md section 5). Imports are read from the source (``ast``), so an import inside a
function counts as much as one at the top, and a forbidden arrow fails here the moment
it is written, with the module and the import that broke it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: (name of the package tree on disk, where its top package lives)
TREES = [(ROOT / "src", "dome"), (ROOT / "operator", "dome_operator")]

#: (importer prefix, imported prefixes it must never import directly, why)
NEVER: list[tuple[str, tuple[str, ...], str]] = [
    ("dome.log", ("dome.engine", "dome.cli", "dome.cli_commands"),
     "the journal is below the engine: it stores what the engine decides"),
    ("dome.client", ("dome.engine", "dome.discovery", "dome.log", "dome.cli",
                     "dome.cli_commands"),
     "the SDK speaks only the wire: a bot installs no engine"),
    ("dome.fix", ("dome.engine", "dome.log", "dome.discovery"),
     "the FIX gateway is a client of the exchange, through the SDK"),
    ("dome.engine", ("dome.cli", "dome.cli_commands", "dome.bench"),
     "the engine is a library the CLI starts, not the other way round"),
    ("dome.local", ("dome.cli", "dome.cli_commands", "dome.bench"),
     "the local process supervisor is the library below the CLI and the benchmarks"),
    ("dome.bench", ("dome.cli", "dome.cli_commands"),
     "benchmarks drive the library the CLI drives; the CLI calls them, never the reverse"),
    ("dome.discovery", ("dome.core", "dome.engine", "dome.cli", "dome.cli_commands"),
     "discovery places symbols; it never looks inside a book"),
    ("dome_operator", ("dome.engine", "dome.core", "dome.log", "dome.discovery"),
     "the operator renders Kubernetes objects; it runs no exchange code"),
    # The engine's order path runs one way: node -> sequencer -> log (replica) ->
    # applier -> sinks. A later stage never reaches back into an earlier one.
    ("dome.engine.applier", ("dome.engine.sequencer", "dome.engine.replica",
                             "dome.engine.node", "dome.engine.member"),
     "apply and publish come after sequencing and logging"),
    ("dome.engine.replica", ("dome.engine.sequencer", "dome.engine.node",
                             "dome.engine.member"),
     "the log stage returns what is committed; it does not call the sequencer"),
    ("dome.engine.primary", ("dome.engine.sequencer", "dome.engine.node",
                             "dome.engine.member", "dome.engine.replica",
                             "dome.engine.follower"),
     "the primary's half knows only the replica's shared state"),
    ("dome.engine.follower", ("dome.engine.sequencer", "dome.engine.node",
                              "dome.engine.member", "dome.engine.replica",
                              "dome.engine.primary"),
     "the follower's half knows only the replica's shared state"),
    ("dome.engine.replica_state", ("dome.engine.sequencer", "dome.engine.node",
                                   "dome.engine.member", "dome.engine.replica",
                                   "dome.engine.follower"),
     "the shared state is below both halves (the primary's session type is for typing)"),
    ("dome.engine.sequencer", ("dome.engine.replica", "dome.engine.node",
                               "dome.engine.member"),
     "the sequencer knows its log stage only by its protocol"),
    ("dome.engine.reports", ("dome.engine.sequencer", "dome.engine.node"),
     "a publish sink sees applied batches, nothing upstream"),
    ("dome.engine.market_feed", ("dome.engine.sequencer", "dome.engine.node"),
     "a publish sink sees applied batches, nothing upstream"),
]  # fmt: skip

#: (importer prefix, the only parts of ours it may import, why): for a layer with nothing
#: of ours below it, where a list of what it must not import would miss the next package.
ONLY: list[tuple[str, tuple[str, ...], str]] = [
    ("dome.core", ("dome.core",), "the book core is a pure function of its commands"),
]
#: Top-level packages that are ours, for ``ONLY``.
OURS = ("dome", "dome_operator")

#: Arrows that must not exist even through other modules: the operator's image carries
#: the whole package, but validating an Exchange must not load any exchange code.
NEVER_REACHED: list[tuple[str, tuple[str, ...], str]] = [
    ("dome_operator", ("dome.core", "dome.engine", "dome.log", "dome.discovery"),
     "the operator validates instruments without loading the book core"),
]  # fmt: skip


def _module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _import_nodes(tree: ast.Module, *, on_import: bool) -> list[ast.Import | ast.ImportFrom]:
    """Import statements of a module; ``on_import``: only those that run when it is
    imported (not inside functions, not under ``if TYPE_CHECKING:``)."""
    if not on_import:
        return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def _imports(path: Path, module: str, *, on_import: bool = False) -> set[str]:
    """Every module ``path`` imports, relative imports resolved against ``module``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    for node in _import_nodes(tree, on_import=on_import):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(anchor)
            target = f"{base}.{node.module}" if node.module else base
        else:
            target = node.module or ""
        found.add(target)
        # ``from dome.engine import sequencer`` imports dome.engine.sequencer
        found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _modules(*, on_import: bool = False) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for base, top in TREES:
        for path in sorted((base / top).rglob("*.py")):
            if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                continue
            module = _module_name(path, base)
            graph[module] = _imports(path, module, on_import=on_import)
    return graph


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every forbidden arrow in ``graph``, as ``importer -> imported (why)``."""
    found = []
    for importer, imported in sorted(graph.items()):
        for prefix, forbidden, why in NEVER:
            if not _within(importer, prefix):
                continue
            for name in sorted(imported):
                if any(_within(name, f) for f in forbidden):
                    found.append(f"{importer} -> {name} ({why})")
        for prefix, allowed, why in ONLY:
            if not _within(importer, prefix):
                continue
            for name in sorted(imported):
                ours = any(_within(name, top) for top in OURS)
                if ours and not any(_within(name, a) for a in allowed):
                    found.append(f"{importer} -> {name} ({why})")
    return found


def _resolve(name: str, graph: dict[str, set[str]]) -> str | None:
    """The module of ``graph`` that importing ``name`` loads (its longest known prefix)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in graph:
            return candidate
    return None


def reached(module: str, graph: dict[str, set[str]]) -> set[str]:
    """Every module of ``graph`` that importing ``module`` loads, itself excluded."""
    seen: set[str] = set()
    stack = [module]
    while stack:
        for name in graph.get(stack.pop(), ()):
            target = _resolve(name, graph)
            if target is not None and target not in seen:
                seen.add(target)
                stack.append(target)
    seen.discard(module)
    return seen


def test_no_module_imports_across_a_never_arrow() -> None:
    graph = _modules()
    assert "dome.engine.applier" in graph, "no sources found"
    assert "dome_operator" in graph, "no operator sources found"
    assert violations(graph) == []


def test_the_operator_loads_no_exchange_code() -> None:
    graph = _modules(on_import=True)
    found = []
    for prefix, forbidden, why in NEVER_REACHED:
        for module in sorted(m for m in graph if _within(m, prefix)):
            bad = sorted(r for r in reached(module, graph) if any(_within(r, f) for f in forbidden))
            if bad:
                found.append(f"{module} loads {', '.join(bad)} ({why})")
    assert found == []


def _package(module: str) -> str:
    """``dome.engine.node`` -> ``dome.engine``; the operator is one package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "dome" else parts[0]


def test_no_import_cycle_between_packages() -> None:
    """Packages (``dome.engine``, ``dome.cli_commands``, ...) import each other one way.

    ``__main__`` modules are entry points (``python -m dome.fix`` runs the CLI's
    command), not part of their package's library, so they are left out.
    """
    graph = {m: names for m, names in _modules().items() if not m.endswith(".__main__")}
    known = {_package(m) for m in graph}
    packages: dict[str, set[str]] = {}
    for importer, imported in graph.items():
        source = _package(importer)
        for name in imported:
            target = _package(name)
            if target != source and target in known:
                packages.setdefault(source, set()).add(target)
    cycles = sorted(
        f"{a} <-> {b}" for a, targets in packages.items() for b in targets
        if a < b and a in packages.get(b, set())
    )  # fmt: skip
    assert cycles == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            "from dome.engine import node\n", "dome.core.x -> dome.engine.node", id="absolute"
        ),
        pytest.param("from ..engine import node\n", "dome.core.x -> dome.engine", id="relative"),
    ],
)
def test_the_check_sees_a_forbidden_import(tmp_path: Path, source: str, expected: str) -> None:
    tree = tmp_path / "dome" / "core"
    tree.mkdir(parents=True)
    (tree / "x.py").write_text(source)
    graph = {"dome.core.x": _imports(tree / "x.py", "dome.core.x")}
    assert any(v.startswith(expected) for v in violations(graph)), violations(graph)


#: Issue 12's "never" arrows (core -> anything; log -> engine; SDK -> engine; engine -> CLI;
#: discovery -> core; bench -> CLI; operator -> engine or core), and docs/architecture.md's
#: FIX gateway -> engine, each as one import that adds it: (importing module, its source).
ISSUE_ARROWS = [
    ("dome.core.x", "from ..local import supervisor\n"),
    ("dome.core.x", "from .. import faults\n"),
    ("dome.core.x", "import dome.v1.common_pb2\n"),
    ("dome.core.x", "from dome.engine import node\n"),
    ("dome.log.x", "from dome.engine import node\n"),
    ("dome.log.x", "from ..engine.sequencer import Sequencer\n"),
    ("dome.client.x", "from dome.engine import node\n"),
    ("dome.engine.x", "from dome.cli_commands import up\n"),
    ("dome.engine.x", "import dome.cli\n"),
    ("dome.discovery.x", "from dome.core import types\n"),
    ("dome.discovery.x", "from ..core.types import Side\n"),
    ("dome.bench.x", "from dome.cli_commands import bench\n"),
    ("dome.bench.x", "import dome.cli\n"),
    ("dome.fix.x", "from dome.engine import node\n"),
    ("dome_operator.x", "from dome.engine import node\n"),
    ("dome_operator.x", "from dome.core import types\n"),
]


@pytest.mark.parametrize(("module", "source"), ISSUE_ARROWS, ids=lambda v: v.strip())
def test_every_never_arrow_of_the_issue_fails_the_check(
    tmp_path: Path, module: str, source: str
) -> None:
    path = tmp_path.joinpath(*module.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True)
    path.write_text(source)
    assert violations({module: _imports(path, module)}), f"{module}: {source.strip()}"
