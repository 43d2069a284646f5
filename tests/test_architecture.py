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
LONG_MODULES = {
    "mlrel_cli/stats/slices.py": "the weak-segment search's statistics, which the work on one route for it reshapes",
}


def test_no_module_over_600_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert {module: lines for module, lines in long.items() if module not in LONG_MODULES} == {}
