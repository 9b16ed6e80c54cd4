"""How many real coded quotes would resolve a gap: an extrapolation of `crossval`'s paired intervals.

On the 47 bundled quotes no gap between the adapted model and the blind second coder is resolved: each paired
95% interval (`default_minus` in `reports/crossval/crossval.json`) is about ±0.2-0.3 wide. A team asks how much
more double-coded material would settle it. A bootstrap interval of a statistic that averages over units
narrows as 1 / sqrt(n), so an interval of half-width h on n quotes would have half-width h * sqrt(n / m) on m
quotes drawn the same way, and it excludes 0 for a true gap d once that half-width falls below |d|:

    m = n * (h / d) ** 2

Krippendorff's alpha is a ratio of two such averages, so this is an approximation (a first-order one, good
for m well above n, not an exact power analysis); it assumes new quotes like the bundled ones (the same study,
coding and mix of categories). Per comparison and axis it reports the half-width now and m for the observed
gap (the seeds' mean difference) and for gaps of 0.05 and 0.1.

Run: ``python -m pipeline.tools.quotes_needed reports/crossval/crossval.json -o
reports/experiments/quotes_needed.json`` (instant; reads the crossval stage's output).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.tools import write_result

GAPS = (0.05, 0.1)


def quotes_to_resolve(n: int, half_width: float, gap: float) -> int | None:
    """Quotes at which a paired interval of `half_width` on `n` quotes shrinks to `gap` (None for a zero gap)."""
    if gap == 0:
        return None
    return math.ceil(n * (half_width / abs(gap)) ** 2)


def estimate(crossval: dict[str, Any], gaps: Sequence[float] = GAPS) -> dict[str, Any]:
    """Per comparison (`default_minus`) and axis: n, mean difference, mean half-width, quotes to resolve."""
    out: dict[str, Any] = {}
    for comparison, axes in crossval["default_minus"].items():
        out[comparison] = {}
        for axis, summary in axes.items():
            if summary.get("mean") is None or not summary.get("ci_mean"):
                out[comparison][axis] = None
                continue
            low, high = summary["ci_mean"]
            half = (high - low) / 2
            n = int(summary["n"])
            out[comparison][axis] = {
                "n": n, "difference": summary["mean"], "half_width": round(half, 4),
                "resolved_now": low > 0 or high < 0,
                "quotes_for_observed_gap": quotes_to_resolve(n, half, summary["mean"]),
                "quotes_for_gap": {f"{gap:g}": quotes_to_resolve(n, half, gap) for gap in gaps},
            }
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crossval", type=Path, nargs="?", default=Path("reports/crossval/crossval.json"))
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        text = args.crossval.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        print(f"error: {args.crossval}: cannot read it ({getattr(err, 'strerror', None) or err}); run "
              "`dvc repro crossval` or pass the crossval.json to read", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        result = estimate(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        problem = f"no '{err.args[0]}' key" if isinstance(err, KeyError) else str(err)
        print(f"error: {args.crossval}: not a crossval.json with paired differences ({problem}); run "
              "`dvc repro crossval`", file=sys.stderr)
        raise SystemExit(2) from None
    write_result(args.output, {"source": str(args.crossval), "method": __doc__.split("\n\n")[1].replace("\n", " "),
                               "gaps": list(GAPS), "comparisons": result})
    for comparison, axes in result.items():
        print(f"{comparison}: " + "  ".join(
            f"{axis} {s['difference']:+.2f} ±{s['half_width']:.2f}, {s['quotes_for_gap']['0.1']} quotes for 0.1"
            for axis, s in axes.items() if s), file=sys.stderr)


if __name__ == "__main__":
    main()
