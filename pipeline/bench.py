"""`capcode bench`: throughput and memory figures, measured, with a plain-transformers reference.

Each measurement runs in its own Python process so its peak RSS is its own (ru_maxrss of the child):
- predict: fragments/s of capcode's scoring (length-sorted batches, the precision `auto` resolves to) against the
  same forward pass in plain transformers (fp32, batches in corpus order, padded to the longest), on the
  corpus's real fragments, median over repeats, plus peak RSS;
- e2e: `capcode predict` on a ~15,000-word interview, model load included, wall-clock median;
- train: seconds per training step (Trainer, the configured batch size and precision), plus peak RSS;
- segment and qdpx import: the ingest benchmarks of those modules;
- growth: `capcode predict` on fragment files of 1x, 10x and 100x `growth_base` fragments (wall, peak RSS,
  RSS growth per 1,000 fragments);
- startup: `capcode predict` on a single fragment, `startup_repeats` times: seconds until its output appears
  (the first fragment scored and written) and until the process exits, medians;
- memory: `capcode predict` on `memory_fragments` fragments with its RSS sampled every second (flat or not);
- parallel: `capcode predict` as one plain process and under `torchrun` with 1 and 2 processes (gloo),
  the speed-up of 2 processes over 1 and whether the outputs are byte-identical.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.documents import read_prepared
from pipeline.core.errors import InputError
from pipeline.core.params import load_params


def _codable_texts(prepared: Path, limit: int) -> list[str]:
    if not prepared.is_file():
        raise InputError(prepared, "no prepared fragments; run `dvc repro prepare` (or `capcode prepare`) first")
    texts = [r.text for r in read_prepared(prepared) if r.codable and r.split != "gold"]
    return texts[:limit]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_predict(model_dir: Path, prepared: Path, n: int, repeats: int, params_path: str | None = None) -> dict[str, Any]:
    """Time capcode's scoring and the plain-transformers reference on the same texts in one process."""
    import torch

    from pipeline.core.codebook import load_codebook
    from pipeline.model.apply import head_axis_poles
    from pipeline.model.classifier import load_model, mean_pool, model_input_text
    from pipeline.model.precision import resolve_precision
    from pipeline.model.scoring import score_texts

    params = load_params(params_path).predict
    texts = _codable_texts(prepared, n)
    codebook = load_codebook()
    model, tokenizer, metadata = load_model(model_dir, codebook)
    axis_poles = head_axis_poles(metadata, codebook)
    precision = resolve_precision(params.precision)
    ours, reference = [], []
    batch = int(params.batch_size)
    score_texts(model, tokenizer, texts[:batch], text_prefix=metadata.text_prefix, max_length=metadata.max_length,
                batch_size=batch, precision=precision, show_progress=False, axis_poles=axis_poles)  # warm-up
    for _ in range(repeats):
        start = time.perf_counter()
        score_texts(model, tokenizer, texts, text_prefix=metadata.text_prefix, max_length=metadata.max_length,
                    batch_size=batch, precision=precision, long_fragments=params.long_fragments, show_progress=False,
                    axis_poles=axis_poles)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(texts), batch):
                chunk = [model_input_text(t, metadata.text_prefix) for t in texts[i : i + batch]]
                encoded = tokenizer(chunk, padding=True, truncation=True, max_length=metadata.max_length,
                                    return_tensors="pt")
                hidden = model.encoder(**encoded).last_hidden_state
                torch.sigmoid(model.head(mean_pool(hidden, encoded["attention_mask"])))
        reference.append(time.perf_counter() - start)
    lengths = [len(tokenizer(model_input_text(t, metadata.text_prefix))["input_ids"]) for t in texts]
    return {
        "n_fragments": len(texts), "repeats": repeats, "precision": precision, "batch_size": batch,
        "tokens_median": float(np.median(lengths)), "tokens_p90": float(np.percentile(lengths, 90)),
        "capcode_fragments_per_s": len(texts) / statistics.median(ours),
        "reference_fragments_per_s": len(texts) / statistics.median(reference),
        "speedup_vs_reference": statistics.median(reference) / statistics.median(ours),
        "peak_rss_mb": _peak_rss_mb(),
    }


def worker_train(prepared: Path, backbone: str | None, steps: int, params_path: str | None = None) -> dict[str, Any]:
    """Seconds per optimizer step of the configured training, after one warm-up step."""
    from transformers import TrainerCallback

    from pipeline.train import prepare_run

    times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self.start)

    with tempfile.TemporaryDirectory() as tmp:
        run = prepare_run(prepared=prepared, checkpoint_dir=Path(tmp) / "checkpoints", max_steps=steps + 1,
                          backbone=backbone, save_checkpoints=False, params_path=Path(params_path) if params_path else None)
        run.trainer.add_callback(StepTimer())
        run.trainer.train()
    params = load_params(params_path).train
    return {"steps": len(times) - 1, "batch_size": int(params.batch_size),
            "seconds_per_step_median": statistics.median(times[1:]), "peak_rss_mb": _peak_rss_mb()}


def run_measured(command: list[str]) -> tuple[int, str, str, float, float]:
    """Run a command; return (exit code, stdout, stderr, wall seconds, peak RSS in MB of that child alone)."""
    from pipeline.benchmarks.process import run_child

    run = run_child(command)
    return run.code, run.stdout, run.stderr, run.seconds, run.peak_rss_mb


def _run_worker(args: list[str]) -> dict[str, Any]:
    code, stdout, stderr, _, _ = run_measured([sys.executable, "-m", "pipeline.bench", *args])
    if code != 0:
        raise RuntimeError(f"benchmark worker {args[0]} failed: {stderr.strip().splitlines()[-1:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def long_interview(corpus_dir: Path, n_words: int) -> str:
    """Concatenate synthetic transcripts until about `n_words` words: a 90-minute interview's length."""
    parts, words = [], 0
    for path in sorted((corpus_dir / "transcripts").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        parts.append(text)
        words += len(text.split())
        if words >= n_words:
            break
    text = "\n\n".join(parts)
    return " ".join(text.split(" ")[: int(n_words * 1.05)]) if words > n_words else text


def bench_e2e(model_dir: Path, corpus_dir: Path, n_words: int, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        transcript = Path(tmp) / "interview.txt"
        text = long_interview(corpus_dir, n_words)
        transcript.write_text(text, encoding="utf-8")
        seconds, rss = [], []
        for _ in range(repeats):
            code, _, stderr, wall, peak = run_measured([sys.executable, "-m", "pipeline.cli", "predict", str(transcript),
                                                        "--model", str(model_dir), "-o", str(Path(tmp) / "out.jsonl")])
            if code != 0:
                raise RuntimeError(f"capcode predict failed: {stderr.strip()[-300:]}")
            seconds.append(wall)
            rss.append(peak)
        fragments = sum(1 for _ in open(Path(tmp) / "out.jsonl", encoding="utf-8"))
    return {"words": len(text.split()), "fragments": fragments,
            "seconds_median": statistics.median(seconds), "seconds_all": seconds, "peak_rss_mb": max(rss)}


# The parts `run_bench` measures, in its order; `skip` names some of them.
PARTS = ("segment", "qdpx", "predict", "e2e", "train", "growth", "startup", "memory", "parallel")


def run_bench(*, model_dir: Path, prepared: Path, corpus_dir: Path, n_fragments: int = 400, repeats: int = 3,
              train_steps: int = 5, backbone: str | None = None, skip: frozenset[str] | set[str] = frozenset(),
              params_path: Path | None = None, growth_base: int = 123, parallel_fragments: int = 1230,
              startup_repeats: int = 5, memory_fragments: int = 10000) -> dict[str, Any]:
    """All figures as one dict (also written to reports/bench.json by the CLI); `skip` names parts of `PARTS`."""
    import platform

    unknown = set(skip) - set(PARTS)
    if unknown:
        raise InputError("--skip", f"unknown part(s) {', '.join(sorted(unknown))}; expected some of "
                                   f"{', '.join(PARTS)}")
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    if "segment" not in skip:
        from pipeline.benchmarks.segment import bench_segment

        results["segment_15k_words"] = bench_segment()
    if "qdpx" not in skip:
        from pipeline.benchmarks.qdpx import bench_import

        results["qdpx_import_50x5000"] = bench_import()
    if "predict" not in skip:
        results["predict"] = _run_worker(["predict", str(model_dir), str(prepared), str(n_fragments), str(repeats),
                                          str(params_path or "")])
    if "e2e" not in skip:
        results["e2e_15k_words"] = bench_e2e(model_dir, corpus_dir, 15000, repeats)
    if "train" not in skip:
        results["train"] = _run_worker(["train", str(prepared), backbone or "", str(train_steps), str(params_path or "")])
    if "growth" not in skip:
        from pipeline.benchmarks.scale import bench_growth

        results["predict_growth"] = bench_growth(measure=run_measured, model_dir=model_dir, prepared=prepared,
                                                 base=growth_base, params_path=params_path)
    if "startup" not in skip:
        from pipeline.benchmarks.scale import bench_startup

        results["predict_startup"] = bench_startup(model_dir=model_dir, prepared=prepared, repeats=startup_repeats,
                                                   params_path=params_path)
    if "memory" not in skip:
        from pipeline.benchmarks.scale import bench_memory

        results["predict_memory"] = bench_memory(model_dir=model_dir, prepared=prepared, n=memory_fragments,
                                                 params_path=params_path)
    if "parallel" not in skip:
        from pipeline.benchmarks.scale import bench_parallel

        results["predict_parallel"] = bench_parallel(measure=run_measured, model_dir=model_dir, prepared=prepared,
                                                     n=parallel_fragments, params_path=params_path)
    return results


def _worker_main(argv: list[str]) -> None:
    kind = argv[0]
    if kind == "predict":
        out = worker_predict(Path(argv[1]), Path(argv[2]), int(argv[3]), int(argv[4]), argv[5] or None)
    elif kind == "train":
        out = worker_train(Path(argv[1]), argv[2] or None, int(argv[3]), argv[4] or None)
    else:
        raise SystemExit(f"unknown worker {kind}")
    print(json.dumps(out))


if __name__ == "__main__":
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    _worker_main(sys.argv[1:])
