"""How long one category-head fit takes on one thread and on the default thread pools (README item 36).

`pipeline.model.category_head.fit_logistic` fits scikit-learn's lbfgs logistic regression inside
`one_thread()` (BLAS and OpenMP pools limited to one thread). This tool times that fit against the same fit
on the pools as numpy and scikit-learn set them up (one thread per core), on random matrices of the two
sizes the pipeline fits: a category head on embeddings (``embedding``: 2,050 rows x 384 dense features, unit
length, the 2,000 replay fragments plus a team's coding) and one axis of the TF-IDF baseline of `crossval` in
the default's form (``tfidf``: 2,050 rows x 20,000 columns, dense, as `tfidf_category_system` fits it, about
15 non-zero entries per row), with seeded 4-category targets. What is measured is the cost of the threads
for such shapes; the number of lbfgs iterations, and so a real fit's time, also depends on the data, so
these are not the pipeline's own fit times.

Per size, after one untimed fit of each variant: the median over ``--repeats`` of each variant's seconds
(the variants take turns, the first one alternating, so a busy shared machine slows both alike), their
ratio, and the largest difference between the two fits' coefficients (the threads only split the matrix
products, so the solutions agree up to rounding). Run:
``python -m pipeline.tools.logistic_threads_bench -o reports/hardware/<cpu>/logistic_threads.json``
(about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.model.category_head import fit_logistic, logistic_regression, unit_rows
from pipeline.tools.predict_precision_experiment import this_cpu_description

SIZES: dict[str, tuple[int, int]] = {"embedding": (2050, 384), "tfidf": (2050, 20000)}


def bench_matrix(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random matrix of `SIZES[kind]`, 4-category targets that depend on it, and row weights in [0.5, 2]."""
    rows, columns = SIZES[kind]
    rng = np.random.default_rng(seed)
    if kind == "embedding":
        features = unit_rows(rng.normal(size=(rows, columns)))
    else:  # sparse non-negative rows of unit length, stored dense, like a TF-IDF matrix after .toarray()
        features = np.zeros((rows, columns))
        for row in range(rows):
            features[row, rng.choice(columns, size=15, replace=False)] = rng.uniform(0.1, 1.0, size=15)
        features = unit_rows(features)
    target = (features @ rng.normal(size=(columns, 4))).argmax(axis=1)
    return features, target, rng.uniform(0.5, 2.0, size=rows)


def _timed_fit(fit: Callable[..., Any], features: np.ndarray, target: np.ndarray, weight: np.ndarray, *, c: float,
               seed: int) -> tuple[float, Any]:
    """Seconds one `fit` takes, and the fitted model."""
    start = time.perf_counter()
    model = fit(features, target, weight, c=c, seed=seed)
    return time.perf_counter() - start, model


def threaded_fit(features: np.ndarray, target: np.ndarray, weight: np.ndarray, *, c: float, seed: int) -> Any:
    """The same fit as `fit_logistic`, on the thread pools as they are (the code before README item 36)."""
    return logistic_regression(c=c, seed=seed).fit(features, target, sample_weight=weight)


VARIANTS: dict[str, Callable[..., Any]] = {"one_thread": fit_logistic, "threaded": threaded_fit}


def bench_size(kind: str, repeats: int, *, c: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """Medians of `repeats` timings of the one-thread and the threaded fit on one size, alternated."""
    features, target, weight = bench_matrix(kind, seed)
    seconds: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    fits: dict[str, Any] = {}
    for fit in VARIANTS.values():  # warm-up: imports, thread pools started, caches filled
        fit(features, target, weight, c=c, seed=seed)
    for repeat in range(repeats):
        order = list(VARIANTS) if repeat % 2 == 0 else list(reversed(VARIANTS))
        for variant in order:
            took, fits[variant] = _timed_fit(VARIANTS[variant], features, target, weight, c=c, seed=seed)
            seconds[variant].append(took)
    one, threaded = fits["one_thread"], fits["threaded"]
    difference = max(float(np.abs(one.coef_ - threaded.coef_).max()),
                     float(np.abs(one.intercept_ - threaded.intercept_).max()))
    medians = {variant: statistics.median(times) for variant, times in seconds.items()}
    return {"rows": features.shape[0], "columns": features.shape[1], "repeats": repeats,
            "one_thread_seconds": seconds["one_thread"], "threaded_seconds": seconds["threaded"],
            "one_thread_median": medians["one_thread"], "threaded_median": medians["threaded"],
            "speedup": medians["threaded"] / medians["one_thread"],
            "max_coefficient_difference": difference}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_info

    sizes = {kind: bench_size(kind, args.repeats) for kind in SIZES}
    machine = {**this_cpu_description(), "cores": os.cpu_count(),
               "thread_pools": [{key: pool.get(key) for key in ("user_api", "internal_api", "num_threads")}
                                for pool in threadpool_info()]}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"machine": machine, "sizes": sizes}, indent=2) + "\n", encoding="utf-8")
    for kind, figures in sizes.items():
        print(f"{kind}: one thread {figures['one_thread_median']:.3f} s, threaded {figures['threaded_median']:.3f} s "
              f"({figures['speedup']:.1f}x), coefficients differ by {figures['max_coefficient_difference']:.1e}")


if __name__ == "__main__":
    main()
