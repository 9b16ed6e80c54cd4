"""`capcode bench` runs every measurement and reports the figures (no timing assertions: see the README)."""

from __future__ import annotations

from pipeline.bench import run_bench
from pipeline.core.config import REPO_ROOT


def test_bench_reports_every_figure(tiny_model, tiny_backbone, prepared_mini):
    results = run_bench(model_dir=tiny_model, prepared=prepared_mini / "fragments.jsonl",
                        corpus_dir=REPO_ROOT / "corpus" / "synthetic", n_fragments=20, repeats=1, train_steps=2,
                        backbone=str(tiny_backbone), skip={"segment", "qdpx"})
    predict = results["predict"]
    assert predict["n_fragments"] == 20
    assert predict["capcode_fragments_per_s"] > 0 and predict["reference_fragments_per_s"] > 0
    assert predict["peak_rss_mb"] > 50
    e2e = results["e2e_15k_words"]
    assert e2e["words"] >= 15000 and e2e["fragments"] > 100 and e2e["seconds_median"] > 0
    assert e2e["peak_rss_mb"] > 50
    assert results["train"]["steps"] == 2 and results["train"]["seconds_per_step_median"] > 0
