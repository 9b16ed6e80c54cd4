"""Progress bars on stderr for long work (many files, many batches).

Silent for a single item and when stderr is not a terminal (logs and pipes get no carriage-return debris
before an error line); CAPCODE_PROGRESS=1 forces the bars on, CAPCODE_PROGRESS=0 switches them off."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(
    items: Iterable[T], *, desc: str, unit: str = "it", total: int | None = None, enabled: bool = True
) -> Iterable[T]:
    """`items`, wrapped in a tqdm bar on stderr when a bar is wanted (see the module docstring)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    setting = os.environ.get("CAPCODE_PROGRESS")
    terminal = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    disable = (
        not enabled
        or setting == "0"
        or (total is not None and total <= 1)
        or (setting != "1" and not terminal)
    )
    return tqdm(items, desc=desc, unit=unit, total=total, disable=disable, file=sys.stderr, leave=False)
