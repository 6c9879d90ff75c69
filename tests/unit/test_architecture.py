"""The shape of the code that docs/architecture.md describes: no file of ``src/`` imports itself
back through others (imports inside functions count), and every part of ``mlplab`` has its place
in the import-linter layers that ``make lint`` enforces, so a new package cannot slip past them."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """The modules an import statement names, absolute (``from . import x`` → ``package.x``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*parts, base] if base else parts)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph() -> dict[str, set[str]]:
    """File → the files of ``src/`` it imports, anywhere in it (module top or inside a function)."""
    files = {module_name(path): path for path in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(t for t in imported(node, package) if t in files and t != name)
        graph[name] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected sets of more than one file (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_circle_and_passes_a_chain():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_file_of_src_imports_itself_back():
    graph = import_graph()
    assert "mlplab.runtime.run" in graph and graph["mlplab.runtime.run"]  # the parser sees imports
    assert circles(graph) == []


def test_every_part_of_mlplab_has_a_layer_in_the_import_contracts():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers" and c["containers"] == ["mlplab"])["layers"]
    named = {part.strip() for layer in layers for part in layer.split("|")}
    parts = {path.stem if path.is_file() else path.name for path in (SRC / "mlplab").iterdir()
             if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()}
    assert parts - named == set(), "add these to a layer of [tool.importlinter] in pyproject.toml"
    core = next(c for c in contracts if c.get("forbidden_modules") == ["mlplab.batched"])["source_modules"]
    assert {f"mlplab.{part}" for part in parts - {"batched"}} == set(core)
