"""The modules of ``src/multinerd`` import each other without a cycle (read from their source)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "multinerd"


def imports_of(path: Path) -> set[str]:
    """``multinerd`` modules a file imports, at module level or inside functions alike."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "multinerd":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("multinerd."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("multinerd."))
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    modules = {path.stem for path in package.glob("*.py")} - {"__init__"}
    return {
        name: imports_of(package / f"{name}.py") & modules - {name}
        for name in sorted(modules)
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"x": {"a"}, "a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ],
)
def test_find_cycle(graph, cycle):
    assert find_cycle(graph) == cycle


def test_imports_read_function_level_imports(tmp_path):
    (tmp_path / "one.py").write_text("def f():\n    from multinerd.two import g\n")
    (tmp_path / "two.py").write_text("from multinerd import one\nimport multinerd.three\n")
    (tmp_path / "three.py").write_text("")
    assert import_graph(tmp_path) == {"one": {"two"}, "two": {"one", "three"}, "three": set()}


def test_no_import_cycle_among_multinerd_modules():
    graph = import_graph(PACKAGE)
    assert {"tagger", "export", "backends", "modeldir"} <= set(graph)
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"
