"""Imports run one way: no cycle anywhere in the repository, and the package's stage folders only
import downward (apps -> model -> evaluate -> data -> the root modules), read from the source.
Sizes stay readable: no module in src/ over 600 lines, no function over 80, no bench script over 500."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "multinerd"
#: A folder may import its own modules and any folder of a lower rank; the root modules only each other.
LAYERS = {"": 0, "data": 1, "evaluate": 2, "model": 3, "apps": 4}


def module_name(path: Path, root: Path, prefix: str) -> str:
    """``multinerd.data.corpus`` for src/multinerd/data/corpus.py; ``run_all`` for bench/run_all.py."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([prefix, *parts] if prefix else parts)


def imported_names(path: Path) -> set[str]:
    """Every dotted name a file imports, at module level or inside functions alike.

    ``from a.b import c`` gives both ``a.b`` and ``a.b.c``: whichever of them is a module counts.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules among ``files`` it imports (a package's ``__init__`` counts as a module)."""
    return {name: (imported_names(path) & set(files)) - {name} for name, path in sorted(files.items())}


def repository_modules() -> dict[str, Path]:
    """src/ under its dotted names; bench/ and tests/ by file name, as their sys.path entries import them."""
    files = {module_name(p, PACKAGE, "multinerd"): p for p in PACKAGE.rglob("*.py")}
    for folder in ("bench", "tests"):
        files.update({module_name(p, REPO / folder, ""): p for p in (REPO / folder).glob("*.py")})
    return files


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


def layer_of(module: str) -> str:
    """The stage folder of a ``multinerd`` module ("" for the package and its root modules)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else ""


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``a -> b`` for every import of a ``multinerd`` module from a folder of a higher rank."""
    return [
        f"{source} -> {target}"
        for source, targets in graph.items() if source.startswith("multinerd")
        for target in sorted(targets)
        if target.startswith("multinerd.") and LAYERS[layer_of(target)] > LAYERS[layer_of(source)]
    ]


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


def test_imports_read_function_level_and_package_imports(tmp_path):
    (tmp_path / "one.py").write_text("def f():\n    from multinerd.two import g\n")
    (tmp_path / "two.py").write_text("from multinerd import one\nimport multinerd.three\n")
    (tmp_path / "three.py").write_text("")
    files = {module_name(p, tmp_path, "multinerd"): p for p in tmp_path.glob("*.py")}
    assert import_graph(files) == {
        "multinerd.one": {"multinerd.two"}, "multinerd.two": {"multinerd.one", "multinerd.three"},
        "multinerd.three": set(),
    }


@pytest.mark.parametrize(
    ("source", "target", "upward"),
    [
        ("multinerd.data.corpus", "multinerd.labels", False),
        ("multinerd.model.export", "multinerd.evaluate.scoring", False),
        ("multinerd.apps.cli", "multinerd.model.tagger", False),
        ("multinerd.data.corpus", "multinerd.evaluate.scoring", True),
        ("multinerd.labels", "multinerd.data.corpus", True),
        ("multinerd.evaluate.report", "multinerd.model.backends", True),
    ],
)
def test_upward_imports_are_found(source, target, upward):
    assert bool(upward_imports({source: {target}})) is upward


def test_no_import_cycle_anywhere_in_the_repository():
    graph = import_graph(repository_modules())
    assert {"multinerd.model.tagger", "multinerd.apps.cli", "run_all", "conftest"} <= set(graph)
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"


def test_stage_folders_import_only_downward():
    graph = import_graph(repository_modules())
    assert upward_imports(graph) == []


def test_every_module_sits_in_a_stage_folder_or_is_a_root_module():
    folders = {p.parent.name for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE}
    assert folders <= set(LAYERS) - {""}
    assert {p.stem for p in PACKAGE.glob("*.py")} <= {"__init__", "config", "labels", "progress", "systems",
                                                      "hardware"}


def test_public_names_come_from_the_package_root_without_loading_torch():
    import subprocess
    import sys

    import multinerd
    from multinerd.model.tagger import Tagger

    assert multinerd.Tagger is Tagger and callable(multinerd.run) and callable(multinerd.load_config)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        multinerd.Nothing  # noqa: B018
    code = "import sys, multinerd; print(any(m in sys.modules for m in ('torch', 'transformers', 'ray')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


#: Longest module and function in src/, longest script in bench/ (issue 23's limits).
MODULE_LINES, FUNCTION_LINES, BENCH_SCRIPT_LINES = 600, 80, 500


def oversized(paths: list[Path], root: Path, file_limit: int, function_limit: int | None = None) -> list[str]:
    """``path: N lines`` for each file over ``file_limit``, ``path:function: N lines`` for each
    function over ``function_limit`` (not checked when None); paths relative to ``root``."""
    found = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > file_limit:
            found.append(f"{path.relative_to(root)}: {len(text.splitlines())} lines")
        functions = (n for n in ast.walk(ast.parse(text)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
        for node in functions if function_limit is not None else ():
            if node.end_lineno - node.lineno + 1 > function_limit:
                found.append(f"{path.relative_to(root)}:{node.name}: {node.end_lineno - node.lineno + 1} lines")
    return found


def test_no_module_function_or_bench_script_over_its_size_limit() -> None:
    assert oversized(sorted(PACKAGE.rglob("*.py")), REPO, MODULE_LINES, FUNCTION_LINES) == []
    assert oversized(sorted((REPO / "bench").glob("*.py")), REPO, BENCH_SCRIPT_LINES) == []


def test_the_size_check_finds_a_long_module_and_a_long_function(tmp_path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def long_one():\n{body}\n", encoding="utf-8")
    assert oversized([tmp_path / "long.py"], tmp_path, MODULE_LINES, FUNCTION_LINES) == [
        f"long.py:long_one: {FUNCTION_LINES + 1} lines"
    ]
    assert oversized([tmp_path / "long.py"], tmp_path, FUNCTION_LINES) == [f"long.py: {FUNCTION_LINES + 1} lines"]
