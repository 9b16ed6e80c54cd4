"""The layer rules of docs/architecture.md, checked on the import graph (`tests/import_graph.py`, `ast`)."""

from __future__ import annotations

import subprocess
import sys

from pipeline.core.config import REPO_ROOT
from tests.import_graph import all_modules, cycles, find_cycles, imports_of, module_file

# modules at the top of pipeline/ (not packages), less the entry points
COMMANDS = {m for m in all_modules() if m.count(".") == 1 and module_file(m).name != "__init__.py"} - {
    "pipeline.cli", "pipeline.__main__"}
# the library layers of docs/architecture.md, lowest first: a module imports only its own layer or lower ones
LAYERS = ("core", "ingest", "qdpx", "corpus", "model", "reliability", "report")
LIBRARIES = set(LAYERS)
# Known exception: the .qdpx importer builds the corpus contract's `Collection` (pipeline.corpus.collection,
# a plain dataclass with its validation) one layer up; corpus.loading in turn calls the importer.
UPWARD_ALLOWED = {("pipeline.qdpx.importer", "pipeline.corpus"), ("pipeline.qdpx.importer", "pipeline.corpus.collection")}


def _subpackage(module: str) -> str | None:
    """`core` for pipeline.core and pipeline.core.params; the command's name for a command module."""
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 else None


def test_no_import_circle():
    assert cycles() == []


def test_the_circle_search_finds_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert sorted(find_cycles(graph)) == [["a", "b", "c"], ["e"]]


def test_no_library_imports_a_command_module():
    offenders = [(m, t) for m in all_modules() if _subpackage(m) in LIBRARIES
                 for t in imports_of(m) if t in COMMANDS or t == "pipeline.cli"]
    assert not offenders, f"library modules import command modules: {offenders}"


def test_no_lower_layer_imports_a_higher_one():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = [(m, t) for m in all_modules() if _subpackage(m) in rank for t in imports_of(m)
              if _subpackage(t) in rank and rank[_subpackage(t)] > rank[_subpackage(m)]]
    assert sorted(set(upward) - UPWARD_ALLOWED) == [], "imports from a lower layer into a higher one"


def test_product_code_never_imports_benchmarks_or_tools():
    offenders = [(m, t) for m in all_modules() if _subpackage(m) in LIBRARIES or m in COMMANDS - {"pipeline.bench"}
                 for t in imports_of(m) if t.startswith(("pipeline.benchmarks", "pipeline.tools"))]
    assert not offenders


def test_the_graph_sees_the_commands_and_libraries():
    assert {"pipeline.prepare", "pipeline.train", "pipeline.evaluate", "pipeline.export"} <= COMMANDS
    assert "pipeline.model.apply" in imports_of("pipeline.export")
    assert {m.split(".")[1] for m in all_modules() if m.count(".") >= 2} >= LIBRARIES


def test_python_dash_m_pipeline_help():
    result = subprocess.run([sys.executable, "-m", "pipeline", "--help"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("prepare", "train", "evaluate", "export", "predict", "agreement", "segment", "bench"):
        assert command in result.stdout
