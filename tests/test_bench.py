"""`capcode bench` runs every measurement and reports figures that describe what it measured.

No timing thresholds (they depend on the machine: see the README); instead every count is checked against
an independent computation, and the derived figures against the raw ones.
"""

from __future__ import annotations

import statistics

import pytest

from pipeline.bench import long_interview, run_bench
from pipeline.core.config import REPO_ROOT
from pipeline.core.documents import read_prepared
from pipeline.core.params import load_params

CORPUS = REPO_ROOT / "corpus" / "synthetic"


@pytest.mark.slow  # a 15,000-word predict in a subprocess and a training worker
def test_bench_reports_every_figure(tiny_model, tiny_backbone, prepared_mini, tmp_path):
    from transformers import AutoTokenizer

    from pipeline.corpus.inputs import gather_inputs
    from pipeline.model.classifier import model_input_text, read_metadata
    from pipeline.model.precision import resolve_precision

    prepared = prepared_mini / "fragments.jsonl"
    results = run_bench(model_dir=tiny_model, prepared=prepared, corpus_dir=CORPUS, n_fragments=20, repeats=1,
                        train_steps=2, backbone=str(tiny_backbone), skip={"segment", "qdpx", "growth", "parallel"})
    params = load_params()

    predict = results["predict"]
    texts = [r.text for r in read_prepared(prepared) if r.codable and r.split != "gold"][:20]
    assert predict["n_fragments"] == len(texts) == 20 and predict["repeats"] == 1
    assert predict["precision"] == resolve_precision(params.predict.precision)
    metadata = read_metadata(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model / "encoder", local_files_only=True)
    lengths = sorted(len(tokenizer(model_input_text(t, metadata.text_prefix))["input_ids"]) for t in texts)
    assert predict["tokens_median"] == statistics.median(lengths)
    assert predict["speedup_vs_reference"] == pytest.approx(
        predict["capcode_fragments_per_s"] / predict["reference_fragments_per_s"])
    assert predict["capcode_fragments_per_s"] > 0 and predict["peak_rss_mb"] > 50

    e2e = results["e2e_15k_words"]
    interview = long_interview(CORPUS, 15000)
    assert e2e["words"] == len(interview.split()) >= 15000
    transcript = tmp_path / "interview.txt"
    transcript.write_text(interview, encoding="utf-8")
    expected = gather_inputs([transcript], max_fragment_tokens=params.segment.max_fragment_tokens).records
    assert e2e["fragments"] == len(expected) > 100  # the output has one line per fragment of the interview
    assert len(e2e["seconds_all"]) == 1 and e2e["seconds_median"] == statistics.median(e2e["seconds_all"])

    train = results["train"]
    assert train["steps"] == 2 and train["batch_size"] == params.train.batch_size
    assert train["seconds_per_step_median"] > 0


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
