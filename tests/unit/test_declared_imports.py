"""Every package ``src/`` imports is declared in pyproject.toml (a dependency, or one of its extras),
so an install from the metadata alone has what the code needs. Imports are read from the source
(``ast``), mapped to the distributions that provide them, and compared with the installed
metadata's ``Requires-Dist``."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
FIRST_PARTY = {"mlplab", "hydra_plugins"}


def imported_modules() -> dict[str, set[str]]:
    """Top-level module name → the files of src/ that import it."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(SRC)))
    return found


def declared_distributions() -> set[str]:
    """The distributions mlplab's metadata requires, extras included, by normalised name."""
    return {normalise(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])
            for requirement in metadata.requires("mlplab") or []}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_third_party_import_of_src_is_a_declared_distribution():
    providers = metadata.packages_distributions()
    declared = declared_distributions()
    undeclared = {}
    for module, files in imported_modules().items():
        if module in FIRST_PARTY or module in sys.stdlib_module_names or module == "__future__":
            continue
        distributions = {normalise(d) for d in providers.get(module, [])}
        assert distributions, f"{module} (imported by {sorted(files)}) comes from no installed distribution"
        if not distributions & declared:
            undeclared[module] = (sorted(distributions), sorted(files))
    assert not undeclared, f"imported by src/ but not declared in pyproject.toml: {undeclared}"


def test_the_reader_sees_what_it_must():
    """The check above is not vacuous: it finds torch, lightning and hydra imported, and declared."""
    modules, declared = imported_modules(), declared_distributions()
    assert {"torch", "lightning", "hydra", "omegaconf", "optuna"} <= modules.keys()
    assert {"torch", "lightning", "hydra-core", "optuna"} <= declared
