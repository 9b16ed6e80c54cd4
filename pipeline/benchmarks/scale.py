"""Cost as the work grows: `capcode predict` at 1x, 10x and 100x input, its start-up, its memory over a long
run, and 2 processes vs 1.

Every figure is a separate `capcode predict` process (wall clock and that child's own peak RSS), on
fragment files built from the corpus's codable fragments repeated with fresh ids, so the growth table shows
what a bigger archive costs on this machine and whether memory stays flat. Start-up is the time until the
output of a 1-fragment run appears (the first fragment scored and written), median of several runs; the
memory run samples the process's RSS every second while it scores `n` fragments, split into anonymous memory
(what the work allocates) and file-backed pages (mostly the memory-mapped weights: at most the file's size).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.benchmarks.process import run_child
from pipeline.core.errors import InputError
from pipeline.core.io_utils import read_jsonl

Measure = Callable[[list[str]], tuple[int, str, str, float, float]]


def write_fragment_file(path: Path, texts: list[str], n: int) -> Path:
    """`n` fragments cycling through `texts`, with ids 0..n-1 (a fragments .jsonl for `capcode predict`)."""
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(json.dumps({"id": str(i), "text": texts[i % len(texts)]}, ensure_ascii=False) + "\n")
    return path


def corpus_texts(prepared: Path) -> list[str]:
    if not prepared.is_file():
        raise InputError(prepared, "no prepared fragments; run `dvc repro prepare` (or `capcode prepare`) first")
    return [r["text"] for r in read_jsonl(prepared) if r.get("codable") and r.get("split") != "gold"]


def _predict_command(fragments: Path, model_dir: Path, output: Path, params_path: Path | None,
                     launcher: list[str] | None = None) -> list[str]:
    command = [*(launcher or [sys.executable]), "-m", "pipeline", "predict", str(fragments), "--model", str(model_dir),
               "-o", str(output)]
    return command + (["--params", str(params_path)] if params_path else [])


def _run(measure: Measure, command: list[str]) -> tuple[float, float]:
    code, _, stderr, wall, peak = measure(command)
    if code != 0:
        raise RuntimeError(f"{' '.join(command[:6])} ... failed: {stderr.strip()[-400:]}")
    return wall, peak


def bench_startup(*, model_dir: Path, prepared: Path, repeats: int = 5,
                  params_path: Path | None = None) -> dict[str, Any]:
    """`capcode predict` on one fragment, `repeats` times: seconds until its output appears (the first
    fragment scored and written) and until the process has exited, medians and every run."""
    texts = corpus_texts(prepared)
    first, walls, peaks = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        fragments = write_fragment_file(Path(tmp) / "fragments-1.jsonl", texts, 1)
        for _ in range(repeats):
            output = Path(tmp) / "out.jsonl"
            output.unlink(missing_ok=True)
            run = run_child(_predict_command(fragments, model_dir, output, params_path), watch=output)
            if run.code != 0 or run.output_seconds is None:
                raise RuntimeError(f"capcode predict on 1 fragment failed: {run.stderr.strip()[-400:]}")
            first.append(round(run.output_seconds, 2))
            walls.append(round(run.seconds, 2))
            peaks.append(round(run.peak_rss_mb, 1))
    return {"repeats": repeats, "first_output_seconds_median": statistics.median(first),
            "exit_seconds_median": statistics.median(walls), "first_output_seconds": first, "exit_seconds": walls,
            "peak_rss_mb": max(peaks)}


def bench_growth(*, measure: Measure, model_dir: Path, prepared: Path, base: int, factors: tuple[int, ...] = (1, 10, 100),
                 params_path: Path | None = None) -> dict[str, Any]:
    """Wall and peak RSS of `capcode predict` at `base` x each factor fragments (one run each) and the RSS
    growth per 1,000 fragments between the last two sizes."""
    texts = corpus_texts(prepared)
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (base * f for f in factors):
            fragments = write_fragment_file(Path(tmp) / f"fragments-{n}.jsonl", texts, n)
            wall, peak = _run(measure, _predict_command(fragments, model_dir, Path(tmp) / "out.jsonl", params_path))
            table.append({"fragments": n, "seconds": round(wall, 2), "peak_rss_mb": round(peak, 1),
                          "fragments_per_s": round(n / wall, 1)})
    first, last = table[-2], table[-1]  # 10x -> 100x: past the warm-up of the first batches
    growth = (last["peak_rss_mb"] - first["peak_rss_mb"]) / max(last["fragments"] - first["fragments"], 1) * 1000
    return {"table": table, "rss_growth_mb_per_1000_fragments": round(growth, 2)}


def bench_memory(*, model_dir: Path, prepared: Path, n: int, sample_every: float = 1.0,
                 params_path: Path | None = None) -> dict[str, Any]:
    """`capcode predict` on `n` fragments with its RSS sampled every `sample_every` seconds: peak, the RSS at
    each tenth of the run, and the highest RSS of the second half against that of the second tenth (flat
    memory: the difference stays near zero however long the run)."""
    texts = corpus_texts(prepared)
    with tempfile.TemporaryDirectory() as tmp:
        fragments = write_fragment_file(Path(tmp) / "fragments.jsonl", texts, n)
        run = run_child(_predict_command(fragments, model_dir, Path(tmp) / "out.jsonl", params_path),
                        sample_every=sample_every)
    if run.code != 0:
        raise RuntimeError(f"capcode predict on {n} fragments failed: {run.stderr.strip()[-400:]}")
    samples = run.rss_samples

    def highest(start: float, end: float, column: int = 1) -> float | None:
        window = [sample[column] for sample in samples if start * run.seconds <= sample[0] < end * run.seconds]
        return max(window) if window else None

    tenths = [highest(k / 10, (k + 1) / 10) for k in range(10)]
    second_tenth, second_half = tenths[1], highest(0.5, 1.01)
    return {"fragments": n, "seconds": round(run.seconds, 1), "peak_rss_mb": round(run.peak_rss_mb, 1),
            "sample_every_seconds": sample_every, "rss_mb_by_tenth_of_run": tenths,
            "anonymous_mb_by_tenth_of_run": [highest(k / 10, (k + 1) / 10, 2) for k in range(10)],
            "file_backed_mb_by_tenth_of_run": [highest(k / 10, (k + 1) / 10, 3) for k in range(10)],
            "rss_growth_mb_second_half_vs_second_tenth": (None if second_tenth is None or second_half is None
                                                          else round(second_half - second_tenth, 1)),
            "samples_seconds_rss_anonymous_file_mb": samples}


def bench_parallel(*, measure: Measure, model_dir: Path, prepared: Path, n: int, processes: int = 2,
                   params_path: Path | None = None) -> dict[str, Any]:
    """`capcode predict` on `n` fragments: one plain process, then `torchrun` with 1 and with `processes`
    processes (gloo on the CPU). The outputs must be byte-identical; the speed-up is plain / N processes."""
    texts = corpus_texts(prepared)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    with tempfile.TemporaryDirectory() as tmp:
        fragments = write_fragment_file(Path(tmp) / "fragments.jsonl", texts, n)
        outputs, walls = {}, {}
        for name, command in (
            ("plain", _predict_command(fragments, model_dir, Path(tmp) / "plain.jsonl", params_path)),
            ("torchrun_1", _predict_command(fragments, model_dir, Path(tmp) / "torchrun_1.jsonl", params_path,
                                            [*launcher, "--nproc-per-node=1"])),
            (f"torchrun_{processes}", _predict_command(fragments, model_dir, Path(tmp) / f"torchrun_{processes}.jsonl",
                                                       params_path, [*launcher, f"--nproc-per-node={processes}"])),
        ):
            walls[name], _ = _run(measure, command)
            outputs[name] = (Path(tmp) / f"{name}.jsonl").read_bytes()
    identical = len(set(outputs.values())) == 1
    return {"fragments": n, "cpus": os.cpu_count(), "seconds": {k: round(v, 2) for k, v in walls.items()},
            f"speedup_{processes}_processes_vs_plain": round(walls["plain"] / walls[f"torchrun_{processes}"], 2),
            "outputs_identical": identical}
