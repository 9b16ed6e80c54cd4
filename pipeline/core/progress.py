"""Progress bars on stderr for long work (many files, many documents, many batches).

On by default when stderr is a terminal; silent for a single item, in pipes and logs (no carriage-return
debris before an error line), in CI (`CI` set) and on a `TERM=dumb` terminal. CAPCODE_PROGRESS=1 forces the
bars on, CAPCODE_PROGRESS=0 switches them off. A terminal that reports no width (a pseudo-terminal opened by
a job runner, an IDE console) still gets a bar: tqdm would draw nothing there.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
FALLBACK_COLUMNS, FALLBACK_ROWS = 80, 24


def bars_wanted() -> bool:
    """Whether progress bars go to stderr here (see the module docstring)."""
    setting = os.environ.get("CAPCODE_PROGRESS")
    if setting in ("0", "1"):
        return setting == "1"
    terminal = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    return terminal and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


def _size() -> tuple[int, int]:
    """(columns, rows) of the terminal on stderr, with a fallback where it reports 0 (tqdm then draws nothing)."""
    try:
        columns, rows = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        columns, rows = 0, 0
    fallback = shutil.get_terminal_size((FALLBACK_COLUMNS, FALLBACK_ROWS))
    return columns or fallback.columns or FALLBACK_COLUMNS, rows or fallback.lines or FALLBACK_ROWS


def progress(
    items: Iterable[T], *, desc: str, unit: str = "it", total: int | None = None, enabled: bool = True
) -> Iterable[T]:
    """`items`, wrapped in a tqdm bar on stderr when a bar is wanted (see the module docstring)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    disable = not enabled or (total is not None and total <= 1) or not bars_wanted()
    columns, rows = (None, None) if disable else _size()
    return tqdm(items, desc=desc, unit=unit, total=total, disable=disable, file=sys.stderr, leave=False,
                ncols=columns, nrows=rows)
