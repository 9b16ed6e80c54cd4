"""Numbers written for people where rounding would tell a different story than the value did.

A fragment is flagged for review where a decision margin is below `predict.review_margin`; a margin of 0.04996
rounded to 0.050 would read as not below it. Such numbers are cut to their digits (towards zero), so a written
value is below a limit of that many digits exactly when the value was.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal


def cut_to(value: float, digits: int) -> float:
    """`value` cut (not rounded) to `digits` decimals, on its shortest decimal form: 0.04996 -> 0.0499 for 4
    digits, 0.29 stays 0.29 (a float product such as 0.29 * 100 = 28.999... would lose a digit)."""
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_DOWN))
