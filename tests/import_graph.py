"""The import graph of the `pipeline` package, read with `ast` (nothing is imported).

Every `import pipeline.x` / `from pipeline.x import y` counts, at module level or inside a function (lazy
imports run too, just later). Importing `pipeline.a.b` also runs the package files `pipeline/__init__.py` and
`pipeline/a/__init__.py`; `from pipeline.a import b` imports the module `pipeline.a.b` when there is one.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from pipeline.core.config import REPO_ROOT

PACKAGE = REPO_ROOT / "pipeline"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_file(name: str) -> Path | None:
    base = REPO_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def all_modules() -> list[str]:
    return sorted(module_name(p) for p in PACKAGE.rglob("*.py"))


def _with_packages(name: str) -> set[str]:
    """The module and the packages above it (their __init__ runs first)."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1) if module_file(".".join(parts[:i]))}


@cache
def imports_of(name: str) -> frozenset[str]:
    """The pipeline modules that module ``name`` imports directly (packages above them included)."""
    path = module_file(name)
    assert path is not None, name
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "pipeline" and module_file(target):
                found |= _with_packages(target)
    found.discard(name)
    return frozenset(found)


def imported_names(name: str) -> set[str]:
    """Names ``from pipeline.core.config import ...`` brings into module ``name`` (to spot config reads)."""
    path = module_file(name)
    assert path is not None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and node.module == "pipeline.core.config" for alias in node.names}


def closure(name: str) -> set[str]:
    """Every pipeline module that running module ``name`` can import, itself and its packages included."""
    seen = _with_packages(name)
    todo = list(seen)
    while todo:
        for child in imports_of(todo.pop()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def cycles() -> list[list[str]]:
    """Import circles among the pipeline modules (`find_cycles` on the whole graph).

    Edges from a module to the packages above it are left out: ``pipeline.a.b`` -> ``pipeline.a`` is Python
    running the package file first, not a dependency that ``pipeline.a`` could close into a circle.
    """
    return find_cycles({m: {t for t in imports_of(m) if not m.startswith(t + ".")} for m in all_modules()})


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node, or a node with an edge to itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in graph.get(node, ()):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found
