"""dvc.yaml cannot go stale: every stage lists what its command imports and every config file it reads.

Each stage's import closure is computed with `ast` from its command module (stage name == module name:
`capcode X` runs `pipeline/X.py`); every module in it must be listed in the stage's deps, as a file or through
a folder above it. Config reads are found by a small table of the `pipeline.core.config` constants that name
the shipped config files: a module in the closure that imports one reads that file. `configs/params.yaml`
goes through the stage's `params:` instead: every section the command reads must be there (whole, or the keys
of it the stage uses).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from pipeline.core.config import REPO_ROOT
from pipeline.core.params import SECTIONS
from tests.import_graph import closure, imported_names, module_file

DVC = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
PARAMS = yaml.safe_load((REPO_ROOT / "configs" / "params.yaml").read_text(encoding="utf-8"))
STAGES = DVC["stages"]
PARAMS_FILE = "configs/params.yaml"
# pipeline.core.config constant -> the config file a module that imports it reads
CONFIG_READS = {
    "DEFAULT_PARAMS": PARAMS_FILE,
    "DEFAULT_CODEBOOK": "configs/codebook.yaml",
    "DEFAULT_TRANSCRIPTS": "configs/transcripts.yaml",
}


def _relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def _listed(deps: list[str], path: str) -> bool:
    """The file itself, or a folder above it, is a dependency."""
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def _params_keys(stage: dict) -> list[str]:
    return [key for group in stage.get("params", []) if isinstance(group, dict) for key in group.get(PARAMS_FILE, [])]


def stage_modules(stage: str) -> list[str]:
    return sorted(_relative(module_file(m)) for m in closure(f"pipeline.{stage}"))


def stage_config_reads(stage: str) -> set[str]:
    return {CONFIG_READS[name] for m in closure(f"pipeline.{stage}") for name in imported_names(m) & set(CONFIG_READS)}


def sections_read(stage: str) -> set[str]:
    """Params sections the command module takes from `load_params(...)`: `load_params(p).train`, or
    `all_params.prepare` where `all_params = load_params(p)`."""
    tree = ast.parse((REPO_ROOT / "pipeline" / f"{stage}.py").read_text(encoding="utf-8"))

    def is_load(node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "load_params"

    holders = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and is_load(node.value)
               for target in node.targets if isinstance(target, ast.Name)}
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr in SECTIONS
            and (is_load(node.value) or (isinstance(node.value, ast.Name) and node.value.id in holders))}


def test_the_stages():
    assert set(STAGES) == {"prepare", "train", "adapt", "crossval", "simulate", "evaluate", "export", "profile"}
    order = list(STAGES)
    assert order.index("adapt") < order.index("simulate") < order.index("evaluate")


def test_top_level_plots_draw_outputs_of_a_stage():
    """The simulation curves are drawn by top-level plot definitions (two columns each): each names a file a
    stage writes, and the columns it draws are ones the simulate stage writes."""
    from pipeline.simulate import CURVE_COLUMNS

    produced = {str(o if isinstance(o, str) else next(iter(o))) for s in STAGES.values() for o in s.get("outs", [])}
    plots = [next(iter(entry.items())) for entry in DVC.get("plots", [])]
    assert plots and all(path in produced for path, _ in plots)
    for _, spec in plots:
        assert spec["x"] in CURVE_COLUMNS and set(spec["y"]) <= set(CURVE_COLUMNS)


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_lists_every_module_its_command_imports(stage):
    deps = STAGES[stage]["deps"]
    modules = stage_modules(stage)
    assert f"pipeline/{stage}.py" in modules and "pipeline/core/errors.py" in modules  # the closure is real
    missing = [m for m in modules if not _listed(deps, m)]
    assert not missing, f"dvc.yaml stage {stage} misses modules its command imports: {missing}"


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_lists_every_config_file_it_reads(stage):
    reads = stage_config_reads(stage)
    assert PARAMS_FILE in reads  # every command reads its params
    missing = [c for c in sorted(reads - {PARAMS_FILE}) if c not in STAGES[stage]["deps"]]
    assert not missing, f"dvc.yaml stage {stage} misses config files it reads: {missing}"
    keys = _params_keys(STAGES[stage])
    sections = sections_read(stage)
    assert sections, f"{stage}: found no load_params(...).<section> in pipeline/{stage}.py"
    for section in sorted(sections):  # the section, or the keys of it the stage reads
        assert section in keys or any(key.startswith(f"{section}.") for key in keys), \
            f"dvc.yaml stage {stage} reads params section {section} but lists none of it under params"
        for key in keys:
            if key.startswith(f"{section}."):
                assert key.split(".")[1] in SECTIONS[section].__dataclass_fields__, f"{stage}: unknown key {key}"


def test_the_closure_follows_lazy_and_package_imports():
    modules = stage_modules("evaluate")
    assert "pipeline/__init__.py" in modules and "pipeline/model/__init__.py" in modules
    assert "pipeline/model/apply.py" in modules  # imported inside a function
    assert "pipeline/report/html.py" in modules
    assert stage_config_reads("prepare") == {PARAMS_FILE, "configs/codebook.yaml", "configs/transcripts.yaml"}
    assert sections_read("prepare") == {"prepare", "segment"} and sections_read("export") == {"predict"}


def test_a_missing_module_or_config_would_be_caught():
    """The check above fails on a dvc.yaml without a folder or a config file (it is not vacuous)."""
    deps = [d for d in STAGES["train"]["deps"] if d != "pipeline/model"]
    assert any(not _listed(deps, m) for m in stage_modules("train"))
    assert "configs/transcripts.yaml" in stage_config_reads("train")


@pytest.mark.parametrize("stage", list(STAGES))
def test_dependencies_exist(stage):
    # a stage's outputs: its outs, and its metrics and plots files (outputs to dvc too)
    produced = {str(o if isinstance(o, str) else next(iter(o))) for s in STAGES.values()
                for kind in ("outs", "metrics", "plots") for o in s.get(kind, [])}
    for dep in STAGES[stage]["deps"]:
        assert (REPO_ROOT / dep).exists() or dep in produced, f"{stage}: {dep} neither exists nor is produced"


@pytest.mark.parametrize("stage", list(STAGES))
def test_params_keys_resolve(stage):
    for key in _params_keys(STAGES[stage]):
        node = PARAMS
        for part in key.split("."):
            assert part in node, f"{stage}: params key {key} is not in configs/params.yaml"
            node = node[part]


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_has_module_and_command(stage):
    from typer.main import get_command

    from pipeline.cli import app

    assert (REPO_ROOT / "pipeline" / f"{stage}.py").is_file()
    assert STAGES[stage]["cmd"].startswith(f"capcode {stage} ")
    assert stage in get_command(app).commands
    assert f"pipeline/{stage}.py" in STAGES[stage]["deps"]


def test_checkpoints_persist_and_metrics_are_the_headline():
    train_outs = {next(iter(o)): o[next(iter(o))] for o in STAGES["train"]["outs"] if isinstance(o, dict)}
    assert train_outs["models/checkpoints"] == {"persist": True, "cache": False}
    metrics = [next(iter(m)) if isinstance(m, dict) else m for m in STAGES["evaluate"]["metrics"]]
    assert metrics == ["reports/evaluate/headline.json"]
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in STAGES["evaluate"]["outs"]]
    assert "reports/evaluate/metrics.json" in outs
