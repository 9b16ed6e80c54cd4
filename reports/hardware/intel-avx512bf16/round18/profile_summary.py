"""Where a profiled `capcode crossval` or `capcode simulate` spent its time: the cumulative seconds of the
functions README item 36 names, from a cProfile file (a row simulate does not call reads 0). Each
function's time counts its outermost calls only (calls from another function of the same row are not counted
twice); rows overlap where one part calls another (the learning curve's refits are among the fits).

    python -m cProfile -o crossval.pstats -m pipeline crossval <dvc.yaml's arguments> -o OUT
    python reports/hardware/intel-avx512bf16/round18/profile_summary.py crossval.pstats

(`python -m pipeline` with the checkout of the code to profile as working directory and on PYTHONPATH, as
`stage_timing.sh` runs the old code.)
"""
import pstats
import sys
from collections.abc import Callable

Key = tuple[str, int, str]


def cumulative(stats: dict, matches: Callable[[Key], bool]) -> tuple[float, int]:
    """Seconds spent in (and under) the matching functions, called from outside them, and their call count."""
    matched = {key: value for key, value in stats.items() if matches(key)}
    seconds = sum(caller[3] for value in matched.values() for caller_key, caller in value[4].items()
                  if caller_key not in matched)
    return seconds, sum(value[1] for value in matched.values())


def in_file(suffix: str, name: str, line: int | None = None) -> Callable[[Key], bool]:
    return lambda key: key[0].endswith(suffix) and key[2] == name and (line is None or key[1] == line)


ROWS = {
    "sklearn LogisticRegression.fit (lbfgs and liblinear)": in_file("sklearn/linear_model/_logistic.py", "fit"),
    "  the category heads' lbfgs fits (category_head.fit_category_logits)":
        in_file("pipeline/model/category_head.py", "fit_category_logits"),
    "    of which the TF-IDF baseline in the default's form (crossval.tfidf_category_system's fit)":
        in_file("pipeline/crossval.py", "fit", 312),
    "  the per-code baselines' liblinear fits (crossval._fit_logistic)": in_file("pipeline/crossval.py", "_fit_logistic"),
    "embedding (adaptation.embed)": in_file("pipeline/model/adaptation.py", "embed"),
    "learning curve (crossval.learning_curve; its fits are among the above)":
        in_file("pipeline/crossval.py", "learning_curve"),
    "bootstrap intervals (reliability.coefficients.bootstrap_intervals)":
        in_file("pipeline/reliability/coefficients.py", "bootstrap_intervals"),
    "poles heads (adaptation.fit_head, torch)": in_file("pipeline/model/adaptation.py", "fit_head"),
}

if __name__ == "__main__":
    stats = pstats.Stats(sys.argv[1]).stats  # type: ignore[attr-defined]
    print(f"{max(value[3] for value in stats.values()):8.1f} s  total (the profiled process)")
    for name, matches in ROWS.items():
        seconds, calls = cumulative(stats, matches)
        print(f"{seconds:8.1f} s  {calls:5d} calls  {name}")
