"""Running one command as a measured child process: wall clock, its own peak RSS, and, while it runs, when its
output file appears and how its resident memory develops.

`capcode predict` writes its output atomically once the last chunk is written, so for a 1-fragment input
the moment the output file appears is the moment the first fragment has been scored and written: the
start-up figure, without the seconds the process then spends tearing down (freeing a 250,000-piece
tokenizer alone takes a few tenths of a second). RSS samples come from `/proc/<pid>/status` (Linux).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

POLL_SECONDS = 0.01


@dataclass
class ChildRun:
    """What one measured run of a command gave."""

    code: int
    stdout: str
    stderr: str
    seconds: float  # wall clock, start to exit
    peak_rss_mb: float  # ru_maxrss of this child alone
    output_seconds: float | None = None  # when the watched file first existed (None: not watched or never)
    # (seconds since start, RSS MB, of which anonymous, of which file-backed)
    rss_samples: list[tuple[float, float, float, float]] = field(default_factory=list)


def resident_mb(pid: int) -> tuple[float, float, float] | None:
    """Process `pid`'s resident memory in MB: (total, anonymous, file-backed), or None when it is gone or
    /proc is missing. File-backed pages are mostly the memory-mapped model weights (bounded by the file's
    size); anonymous memory is what the work allocates."""
    fields = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "RssAnon", "RssFile"):
                    fields[name] = int(value.split()[0]) / 1024
    except OSError:
        return None
    if "VmRSS" not in fields:
        return None
    return fields["VmRSS"], fields.get("RssAnon", 0.0), fields.get("RssFile", 0.0)


def run_child(command: list[str], *, watch: Path | None = None, sample_every: float | None = None) -> ChildRun:
    """Run `command` to its end; note when `watch` appears and sample its RSS every `sample_every` seconds.

    `os.wait4` gives the rusage of exactly this child (RUSAGE_CHILDREN would be the maximum over all)."""
    env = dict(os.environ, CAPCODE_PROGRESS="0", TOKENIZERS_PARALLELISM="false")
    samples: list[tuple[float, float, float, float]] = []
    appeared: float | None = None
    start = time.perf_counter()
    next_sample = 0.0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG if watch or sample_every else 0)
            now = time.perf_counter() - start
            if pid:
                break
            if watch is not None and appeared is None and watch.exists():
                appeared = now
            if sample_every and now >= next_sample:
                rss = resident_mb(process.pid)
                if rss is not None:
                    total, anonymous, file_backed = (round(mb, 1) for mb in rss)
                    samples.append((round(now, 2), total, anonymous, file_backed))
                next_sample += sample_every
            time.sleep(POLL_SECONDS)
        process.returncode = os.waitstatus_to_exitcode(status)
        if watch is not None and appeared is None and watch.exists():
            appeared = now  # written in the last poll interval
        out.seek(0)
        err.seek(0)
        return ChildRun(process.returncode, out.read(), err.read(), now, usage.ru_maxrss / 1024, appeared, samples)
