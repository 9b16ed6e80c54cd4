"""Error types that the command line turns into one clear line on stderr and exit code 2."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input from the user: a wrong file, a broken transcript, an unknown code name.

    The message says what was expected, what was found and, where possible, how to fix it.
    `str()` gives ``"<path>: <message>"`` so the CLI can print it as one line.
    """

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"
