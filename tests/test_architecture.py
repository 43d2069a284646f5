"""The layers hold: data flows one way (docs/architecture.md), and no two modules import each other in a circle.

Every import of a ``mlrel_cli`` module is read from the source, the ones
inside functions included (an import moved into a function to dodge a circle
is still an arrow), and checked against the layer rules and for cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mlrel_cli"

# layer -> the layers it must never import (a module's layer is its first package under mlrel_cli)
FORBIDDEN = {
    "facts": {"analysis", "engine", "cli", "render", "registry", "outputs", "alerting"},
    "engine": {"analysis", "cli", "render", "registry", "alerting"},
    "stats": {"logs", "policy", "policy_files", "policy_messages", "facts", "engine", "analysis", "cli", "render", "registry"},
    "render": {"analysis", "engine", "facts", "stats", "logs", "cli"},
    "report": {"analysis", "engine", "facts", "cli", "render"},
    "payloads": {
        "analysis",
        "engine",
        "facts",
        "stats",
        "logs",
        "policy",
        "policy_files",
        "policy_messages",
        "cli",
        "render",
        "registry",
    },
    "analysis": {"cli"},
    "registry": {"analysis", "engine", "facts", "cli"},
    "policy": {"analysis", "engine", "facts", "cli", "render", "logs"},
    "files": {"policy", "policy_files", "policy_messages", "analysis", "engine", "facts", "cli", "render", "logs"},
    "policy_files": {"policy", "policy_messages", "analysis", "engine", "facts", "cli", "render", "logs"},
    "policy_messages": {"policy", "policy_files", "analysis", "engine", "facts", "cli", "render", "logs"},
    "logs": {"analysis", "engine", "facts", "cli", "render"},
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["mlrel_cli", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The mlrel_cli modules ``name`` imports anywhere in its file (``from pkg import module`` names the module)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for target in targets:
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read() -> None:
    graph = _graph()
    # a few arrows that must be seen, or the rules below would pass on an empty graph
    assert "mlrel_cli.facts.columns" in graph["mlrel_cli.analysis.validate.facts"]
    assert "mlrel_cli.stats.resampling" in graph["mlrel_cli.analysis.compare.canary"]  # from mlrel_cli.stats import resampling
    assert "mlrel_cli.engine" in graph["mlrel_cli.analysis.drift"]  # imported inside a function


def test_no_import_circle() -> None:
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_one() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer: str) -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in sorted(_graph().items())
        if _layer(module) == layer
        for target in sorted(targets)
        if _layer(target) in FORBIDDEN[layer]
    ]
    assert wrong == []


MAX_MODULE_LINES = 600  # issue 14: no module over about 600 lines
# the modules still over it, each with the reason
LONG_MODULES: dict[str, str] = {}


def test_no_module_over_600_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert {module: lines for module, lines in long.items() if module not in LONG_MODULES} == {}
    assert set(LONG_MODULES) <= set(long), "a module listed as long is no longer: take it off the list"


MAX_FUNCTION_LINES = 60  # issue 14: no function over about 60 lines without a reason


def test_no_function_over_60_lines() -> None:
    """Long functions are where rules hide: each should read as its steps (a plan, a rule, a rendering)."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.name} ({lines} lines)")
    assert long == []


ENGINE_NAMES = {"local", "dask"}  # engine.ENGINES (the test below checks they are the same)


def _engine_branches(source: str) -> list[str]:
    """Where code asks which engine it runs on: a comparison with an engine's name (``name == "local"``,
    ``x in ("dask", ...)``, a ``match`` case) or with an engine's ``.name``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            constants = [c for o in operands for c in ([o] if isinstance(o, ast.Constant) else getattr(o, "elts", []))]
            named = {c.value for c in constants if isinstance(c, ast.Constant)} & ENGINE_NAMES
            asked = [
                o for o in operands if isinstance(o, ast.Attribute) and o.attr == "name" and "engine" in ast.unparse(o.value)
            ]
            if named or asked:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.MatchValue) and isinstance(node.value, ast.Constant) and node.value.value in ENGINE_NAMES:
            found.append(f"line {node.lineno}: case {node.value.value!r}")
    return found


def test_the_engine_branch_finder_finds_one() -> None:
    assert _engine_branches('if name == "local":\n    pass') == ["line 1: name == 'local'"]
    assert _engine_branches('ok = engine.name in ("dask",)') == ["line 1: engine.name in ('dask',)"]
    assert _engine_branches('match name:\n    case "dask":\n        pass') == ["line 2: case 'dask'"]
    assert _engine_branches('if metric.name == "rmse":\n    pass') == []


def test_no_analysis_branches_on_the_engine() -> None:
    """Issue 14: an analysis never asks which engine it runs on (mlrel profile included): no engine's name compared,
    no engine implementation imported; where the engines differ is inside them, what one refuses is
    engine.check_engine's."""
    from mlrel_cli.engine import ENGINES

    assert set(ENGINES) == ENGINE_NAMES
    analyses = sorted((PACKAGE / "analysis").rglob("*.py"))
    assert PACKAGE / "analysis" / "profile.py" in analyses
    branches = {str(p.relative_to(PACKAGE)): found for p in analyses if (found := _engine_branches(p.read_text()))}
    assert branches == {}
    graph = _graph()
    implementations = {"mlrel_cli.engine.local", "mlrel_cli.engine.dask", "mlrel_cli.engine.evidence"}
    imported = {
        m: sorted(graph[m] & implementations) for m in graph if m.startswith("mlrel_cli.analysis") and graph[m] & implementations
    }
    assert imported == {}
