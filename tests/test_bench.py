"""`capcode bench` runs every measurement and reports the figures (no timing assertions: see the README)."""

from __future__ import annotations

import pytest

from pipeline.bench import run_bench
from pipeline.core.config import REPO_ROOT


def test_bench_reports_every_figure(tiny_model, tiny_backbone, prepared_mini):
    results = run_bench(model_dir=tiny_model, prepared=prepared_mini / "fragments.jsonl",
                        corpus_dir=REPO_ROOT / "corpus" / "synthetic", n_fragments=20, repeats=1, train_steps=2,
                        backbone=str(tiny_backbone), skip={"segment", "qdpx", "growth", "parallel"})
    predict = results["predict"]
    assert predict["n_fragments"] == 20
    assert predict["capcode_fragments_per_s"] > 0 and predict["reference_fragments_per_s"] > 0
    assert predict["peak_rss_mb"] > 50
    e2e = results["e2e_15k_words"]
    assert e2e["words"] >= 15000 and e2e["fragments"] > 100 and e2e["seconds_median"] > 0
    assert e2e["peak_rss_mb"] > 50
    assert results["train"]["steps"] == 2 and results["train"]["seconds_per_step_median"] > 0


@pytest.mark.slow
def test_bench_growth_and_two_processes(tiny_model, prepared_mini):
    """The growth table (1x, 10x, 100x and a 1-fragment start-up) and the torchrun 2-process comparison."""
    results = run_bench(model_dir=tiny_model, prepared=prepared_mini / "fragments.jsonl",
                        corpus_dir=REPO_ROOT / "corpus" / "synthetic", skip={"segment", "qdpx", "predict", "e2e", "train"},
                        growth_base=2, parallel_fragments=40)
    growth = results["predict_growth"]
    assert [row["fragments"] for row in growth["table"]] == [2, 20, 200]
    assert all(row["seconds"] > 0 and row["peak_rss_mb"] > 50 for row in growth["table"])
    assert growth["startup_1_fragment_seconds"] > 0 and "rss_growth_mb_per_1000_fragments" in growth
    parallel = results["predict_parallel"]
    assert parallel["outputs_identical"] is True and parallel["fragments"] == 40
    assert set(parallel["seconds"]) == {"plain", "torchrun_1", "torchrun_2"} and parallel["speedup_2_processes_vs_plain"] > 0
