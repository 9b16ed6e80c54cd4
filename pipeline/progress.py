"""Progress bars on stderr for long work (many files, many batches); silent for a single item, when stderr
is not a terminal (logs and pipes get no carriage-return debris before an error line), and switched off
entirely with CAPCODE_PROGRESS=0."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], *, desc: str, unit: str = "it", total: int | None = None) -> Iterable[T]:
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    disable = (
        os.environ.get("CAPCODE_PROGRESS") == "0"
        or (total is not None and total <= 1)
        or not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    )
    return tqdm(items, desc=desc, unit=unit, total=total, disable=disable, file=sys.stderr, leave=False)
