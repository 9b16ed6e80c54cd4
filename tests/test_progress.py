"""Progress bars show on a terminal by default and stay quiet in pipes and CI (issue 14, item 4)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _transcripts(folder: Path, n: int = 3) -> list[str]:
    paths = []
    for i in range(n):
        path = folder / f"t{i}.txt"
        path.write_text("I: Hoe gaat het?\nR: Het budget en het personeel zijn beperkt.\n", encoding="utf-8")
        paths.append(str(path))
    return paths


def _segment(tmp_path: Path, *, terminal: bool, **env_extra: str) -> str:
    """Run `capcode segment` on three files with stderr on a fresh pseudo-terminal (which, like many job
    runners' terminals, reports 0 columns) or a pipe; return what reached stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("CAPCODE_PROGRESS", "CI")}
    env.update(PYTHONPATH=str(REPO), TERM="xterm", **env_extra)
    command = [sys.executable, "-m", "pipeline", "segment", *_transcripts(tmp_path), "-o", str(tmp_path / "f.jsonl")]
    if not terminal:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stderr
    master, slave = pty.openpty()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert process.wait(timeout=120) == 0
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_progress_shows_on_a_terminal_by_default(tmp_path: Path) -> None:
    shown = _segment(tmp_path, terminal=True)
    assert "segmenting:" in shown and "/3 [" in shown, repr(shown)


@pytest.mark.slow
def test_progress_stays_quiet_in_pipes_and_ci(tmp_path: Path) -> None:
    assert "segmenting" not in _segment(tmp_path, terminal=False)
    assert "segmenting" not in _segment(tmp_path, terminal=True, CI="true")
    assert "segmenting" not in _segment(tmp_path, terminal=True, CAPCODE_PROGRESS="0")
