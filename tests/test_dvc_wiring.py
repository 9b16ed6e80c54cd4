"""dvc.yaml stays in step with the code: every dependency exists, every params key resolves, every stage
has its module and CLI command (one stage = one module = one command)."""

from __future__ import annotations

import pytest
import yaml

from pipeline.core.config import REPO_ROOT

DVC = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
PARAMS = yaml.safe_load((REPO_ROOT / "configs" / "params.yaml").read_text(encoding="utf-8"))
STAGES = DVC["stages"]


def test_the_four_stages():
    assert {"prepare", "train", "evaluate", "export", "profile"} <= set(STAGES)


@pytest.mark.parametrize("stage", list(STAGES))
def test_dependencies_exist(stage):
    produced = {str(o if isinstance(o, str) else next(iter(o))) for s in STAGES.values() for o in s.get("outs", [])}
    for dep in STAGES[stage]["deps"]:
        assert (REPO_ROOT / dep).exists() or dep in produced, f"{stage}: {dep} neither exists nor is produced"


@pytest.mark.parametrize("stage", list(STAGES))
def test_params_keys_resolve(stage):
    for group in STAGES[stage].get("params", []):
        for key in group["configs/params.yaml"]:
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
