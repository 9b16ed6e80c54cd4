"""`capcode bench` runs every measurement and reports figures that describe what it measured.

No timing thresholds (they depend on the machine: see the README); instead every count is checked against
an independent computation, and the derived figures against the raw ones.
"""

from __future__ import annotations

import statistics
import sys

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
def test_bench_growth_startup_memory_and_two_processes(tiny_model, prepared_mini):
    """The growth table (1x, 10x, 100x), the 1-fragment start-up runs, the RSS-sampled run and the torchrun
    2-process comparison."""
    results = run_bench(model_dir=tiny_model, prepared=prepared_mini / "fragments.jsonl",
                        corpus_dir=REPO_ROOT / "corpus" / "synthetic", skip={"segment", "qdpx", "predict", "e2e", "train"},
                        growth_base=2, parallel_fragments=40, startup_repeats=2, memory_fragments=30)
    growth = results["predict_growth"]
    assert [row["fragments"] for row in growth["table"]] == [2, 20, 200]
    assert all(row["seconds"] > 0 and row["peak_rss_mb"] > 50 for row in growth["table"])
    assert "rss_growth_mb_per_1000_fragments" in growth
    startup = results["predict_startup"]
    assert startup["repeats"] == len(startup["first_output_seconds"]) == len(startup["exit_seconds"]) == 2
    assert all(0 < first <= end for first, end in zip(startup["first_output_seconds"], startup["exit_seconds"]))
    assert startup["first_output_seconds_median"] == statistics.median(startup["first_output_seconds"])
    memory = results["predict_memory"]
    samples = memory["samples_seconds_rss_anonymous_file_mb"]
    assert memory["fragments"] == 30 and samples and len(memory["rss_mb_by_tenth_of_run"]) == 10
    assert max(rss for _, rss, _, _ in samples) <= memory["peak_rss_mb"] + 1
    # VmRSS = anonymous + file-backed + shared memory; the kernel keeps these counters per thread and syncs them
    # lazily, so one /proc read may be off by a few MB, and a sample taken during exec sees an empty new process
    assert all(anonymous + file <= rss * 1.02 + 8 for _, rss, anonymous, file in samples if rss)
    _, _, anonymous_at_peak, _ = max(samples, key=lambda sample: sample[1])
    assert anonymous_at_peak > 0
    parallel = results["predict_parallel"]
    assert parallel["outputs_identical"] is True and parallel["fragments"] == 40
    assert set(parallel["seconds"]) == {"plain", "torchrun_1", "torchrun_2"} and parallel["speedup_2_processes_vs_plain"] > 0


def test_measured_child_reports_when_its_output_appears_and_its_memory(tmp_path):
    from pipeline.benchmarks.process import run_child

    output = tmp_path / "out.txt"
    code = ("import pathlib, time; block = bytearray(80 * 2**20); time.sleep(0.4); "
            f"pathlib.Path({str(output)!r}).write_text('x'); time.sleep(0.4); print('done')")
    run = run_child([sys.executable, "-c", code], watch=output, sample_every=0.1)
    assert run.code == 0 and run.stdout.strip() == "done"
    assert run.output_seconds is not None and 0.4 <= run.output_seconds < run.seconds - 0.3
    assert len(run.rss_samples) >= 5
    assert max(anonymous for _, _, anonymous, _ in run.rss_samples) > 80 and run.peak_rss_mb > 80
    quiet = run_child([sys.executable, "-c", "pass"])
    assert quiet.code == 0 and quiet.output_seconds is None and quiet.rss_samples == []


def test_an_unknown_part_to_skip_is_refused_before_any_work(tmp_path):
    from pipeline.core.errors import InputError

    with pytest.raises(InputError, match="unknown part.*foo.*expected some of segment"):
        run_bench(model_dir=tmp_path, prepared=tmp_path / "missing.jsonl", corpus_dir=tmp_path, skip={"foo", "train"})
