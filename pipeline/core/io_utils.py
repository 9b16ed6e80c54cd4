"""Writing outputs safely: output paths checked before any work, and written atomically so a failed run
never leaves a partial output file behind.

An output never silently replaces one of the command's inputs, its folder must be creatable and writable
(checked up front: usage, exit 2), and the finished file gets the permissions a plain `open(path, "w")`
would give (the umask's, or the replaced file's), not the 0600 of the temporary file it was written as.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from pipeline.core.errors import InputError
from pipeline.core.unicode_safety import replace_lone_surrogates, report_replaced


def check_output_file(
    path: str | Path, allowed: Collection[str], *, inputs: Iterable[str | Path] = (), in_place: bool = False
) -> None:
    """Refuse, before any work, an output path of an unknown type, one that is a directory, one whose folder
    cannot be created or written, or one that is one of `inputs` (unless `in_place`)."""
    path = Path(path)
    if path.suffix.lower() not in allowed:
        names = list(allowed) if isinstance(allowed, (list, tuple)) else sorted(allowed)
        expected = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise InputError(path, f"unsupported output type '{path.suffix}'; expected {expected}")
    if path.is_dir():
        raise InputError(path, "is a directory; expected an output file path")
    if not in_place:
        check_not_an_input(path, inputs)
    check_output_folder(path.parent)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # also catches hard links and symbolic links
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_not_an_input(output: str | Path, inputs: Iterable[str | Path]) -> None:
    """An input is never replaced by the output unless the user asks for it (`--in-place`)."""
    output = Path(output)
    for source in inputs:
        if _same_file(output, Path(source)):
            raise InputError(output, "is also an input; choose another output file (or pass --in-place to "
                             "replace the input)")


def check_output_folder(folder: str | Path) -> None:
    """The folder an output goes into must exist or be creatable, and be writable: checked before any work."""
    folder = Path(folder) if str(folder) else Path(".")
    existing = folder
    while not existing.exists():
        if existing.is_symlink():
            raise InputError(existing, "is a broken link; cannot create the output folder")
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(folder, f"cannot create the output folder: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(existing, "folder is not writable; choose another output location")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _plain_mode(path: Path, *, directory: bool = False) -> int:
    """The permissions a plain write would give: those of the file being replaced, else the umask's."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return (0o777 if directory else 0o666) & ~_umask()


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(folder, f"cannot create the output folder: {err.strerror}") from None


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    _make_folder(path.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    except OSError as err:
        raise InputError(path, f"cannot write here: {err.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _plain_mode(path))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty staging directory beside `path`; it replaces `path` only if the block succeeds,
    so a directory output (a model, a set of export files) is complete or absent, never half-written."""
    path = Path(path)
    _make_folder(path.parent)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as err:
        raise InputError(path, f"cannot write here: {err.strerror}") from None
    try:
        yield staging
        os.chmod(staging, _plain_mode(path, directory=True))
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


@contextmanager
def atomic_writer(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing; it replaces `path` only on success."""
    with atomic_path(path) as tmp:
        encoding = None if "b" in mode else "utf-8"
        with open(tmp, mode, encoding=encoding, newline=None if "b" in mode else "\n") as handle:
            yield handle


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records as JSON lines atomically; return how many were written."""
    count = 0
    with atomic_writer(path) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_json(path: str | Path, data: Any) -> None:
    with atomic_writer(path) as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2, sort_keys=False)
        handle.write("\n")


def write_with(path: str | Path, writer: Callable[[IO[str]], None]) -> None:
    with atomic_writer(path) as handle:
        writer(handle)


def iter_jsonl(path: Path, *, report_replacements: bool = True) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON-lines file, read as a stream (memory does not
    grow with the file). Errors are InputErrors naming the file and the line. Lone surrogates (escaped halves of
    a UTF-16 pair, which no UTF-8 output can hold) are replaced with U+FFFD and counted on stderr at the end
    (`report_replacements` False: a second pass over a file already reported).

    Lines end at \\n, \\r\\n or \\r only: U+2028, U+2029 and U+0085, which `str.splitlines` would also split at,
    may stand unescaped inside a JSON string (our own writers keep them with `ensure_ascii=False`)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory; expected a JSON-lines file (one JSON object per line)") from None
    replaced = 0
    number = 0
    with handle:
        for raw in handle:
            for piece in raw.splitlines():  # bytes split at \\n, \\r\\n and \\r only
                number += 1
                try:
                    line = piece.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise InputError(path, f"not UTF-8 ({err.reason} at line {number}, byte {err.start + 1})") from None
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise InputError(path, f"line {number} is not valid JSON: {err.msg}") from None
                if not isinstance(record, dict):
                    raise InputError(path, f"line {number}: expected a JSON object, found {type(record).__name__}")
                if "\\u" in line:  # only an escape can bring in a lone surrogate
                    record, count = replace_lone_surrogates(record)
                    replaced += count
                yield number, record
    if report_replacements:
        report_replaced(path, replaced)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every object of a JSON-lines file, in order (`iter_jsonl`: same checks, same error lines)."""
    return [record for _, record in iter_jsonl(path)]
