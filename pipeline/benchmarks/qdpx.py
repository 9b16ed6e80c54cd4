"""Writing REFI-QDA projects in a chosen position dialect, and the import benchmark built on it.

`write_dialect_project` writes what NVivo (UTF-16 units, BOM + CRLF on Windows), QualCoder (code points on
LF text, BOM, CRLF counted 1 when written for MAXQDA) or the spec would write for the same coded texts, so
tests can check that every dialect imports to the same spans. `bench_import` times `read_qdpx_collection` on
a generated project of interview-sized texts.

    python -m pipeline.benchmarks.qdpx            # 50 interviews of ~15,000 words, 5,000 codings, 5 repeats
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from pipeline.core.codebook import load_codebook
from pipeline.qdpx.archive import NAMESPACE
from pipeline.qdpx.dialect import DIALECTS, SourceText
from pipeline.qdpx.importer import read_qdpx_collection

_NS = uuid.UUID("0b5a3c1e-7f2d-4e69-8a10-c4d2e6f8b9a7")


def _guid(*parts: object, upper: bool = False) -> str:
    value = str(uuid.uuid5(_NS, "/".join(map(str, parts))))
    return value.upper() if upper else value


@dataclass(frozen=True)
class FixtureSelection:
    """A coded span in code points of the normalised (NFC, LF) text of source number `source`."""

    source: int
    start: int
    end: int
    codes: tuple[str, ...]
    user: str


def write_dialect_project(
    path: str | Path,
    *,
    texts: Sequence[tuple[str, str]],
    selections: Sequence[FixtureSelection],
    dialect: str,
    crlf: bool = False,
    bom: bool = False,
    origin: str = "fixture",
    project_file: str = "project.qde",
    sources_folder: str = "sources",
    folders: Mapping[str, Sequence[str]] | None = None,
    description: str | None = None,
    upper_guids: bool = False,
) -> Path:
    """Write a .qdpx whose positions count in `dialect` on text stored with CRLF (`crlf`) and a BOM (`bom`).

    `texts` are (name, normalised text) pairs; `folders` maps a folder name (`isCodable="false"`) to the
    code names under it; other code names become top-level codes.
    """
    conv = DIALECTS[dialect]
    folders = dict(folders or {})
    in_folder = {code for codes in folders.values() for code in codes}
    code_names = sorted({c for s in selections for c in s.codes} | in_folder)
    code_guid = {name: _guid("code", name, upper=upper_guids) for name in code_names}
    users = sorted({s.user for s in selections}) or ["nobody"]
    user_guid = {name: _guid("user", name, upper=upper_guids) for name in users}
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<Project xmlns="{NAMESPACE}" name="fixture project" origin={quoteattr(origin)}>',
        "<Users>",
        *(f"<User guid={quoteattr(user_guid[u])} name={quoteattr(u)}/>" for u in users),
        "</Users><CodeBook><Codes>",
    ]
    for folder, codes in folders.items():
        parts.append(f'<Code guid="{_guid("folder", folder, upper=upper_guids)}" name={quoteattr(folder)} isCodable="false">')
        parts += [f'<Code guid="{code_guid[c]}" name={quoteattr(c)} isCodable="true" color="#aa0000"/>' for c in codes]
        parts.append("</Code>")
    parts += [f'<Code guid="{code_guid[c]}" name={quoteattr(c)} isCodable="true"/>' for c in code_names if c not in in_folder]
    parts.append("</Codes></CodeBook><Sources>")
    files: dict[str, bytes] = {}
    for number, (name, text) in enumerate(texts):
        source_guid = _guid("source", number, name, upper=upper_guids)
        file_guid = _guid("file", number, name, upper=upper_guids)  # ATLAS.ti names the file apart from the source
        raw = text.replace("\n", "\r\n") if crlf else text
        stored = SourceText(raw)
        files[f"{sources_folder}/{file_guid}.txt"] = (b"\xef\xbb\xbf" if bom else b"") + raw.encode("utf-8")
        parts.append(f'<TextSource guid="{source_guid}" name={quoteattr(name)} plainTextPath="internal://{file_guid}.txt">')
        for k, s in enumerate(sel for sel in selections if sel.source == number):
            start, end = stored.from_normalised(s.start, conv), stored.from_normalised(s.end, conv)
            sel_guid = _guid("selection", number, k, upper=upper_guids)
            parts.append(
                f'<PlainTextSelection guid="{sel_guid}" name="" startPosition="{start}" endPosition="{end}" '
                f'creatingUser="{user_guid[s.user]}">'
            )
            for code in s.codes:
                parts.append(
                    f'<Coding guid="{_guid("coding", number, k, code, upper=upper_guids)}" creatingUser="{user_guid[s.user]}">'
                    f'<CodeRef targetGUID="{code_guid[code]}"/></Coding>'
                )
            parts.append("</PlainTextSelection>")
        parts.append("</TextSource>")
    parts.append("</Sources>")
    if description:
        parts.append(f"<Description>{description}</Description>")
    parts.append("</Project>")
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(project_file, "\n".join(parts).encode("utf-8"))
        for name, data in files.items():
            archive.writestr(name, data)
    return path


_WORDS = (
    "de het een gemeente beleid beheer dienst schepen college personeel budget visie meerjarenplan partners "
    "vereniging school vrijwilligers overleg samenwerking strategisch operationeel café coördinatie reünie "
    "financiën één organisatie managementteam OCMW burgemeester raad doelgroep project taak"
).split()
_EXTRA = ["😀", "👍🏽", "𝔘", "naïef", "ideeën", "Zürich"]


def generate_interview(rng: random.Random, n_words: int) -> tuple[str, list[tuple[int, int]]]:
    """An interview transcript of about `n_words` words (I:/R: turns) and the spans of respondent turns."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    length, words = 0, 0
    while words < n_words:
        question = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 15))) + "?"
        answer_words = [rng.choice(_EXTRA) if rng.random() < 0.01 else rng.choice(_WORDS) for _ in range(rng.randint(30, 120))]
        answer = " ".join(answer_words) + "."
        line_q, line_a = f"I: {question}\n", f"R: {answer}\n"
        spans.append((length + len(line_q) + 3, length + len(line_q) + 3 + len(answer)))
        parts += [line_q, line_a]
        length += len(line_q) + len(line_a)
        words += len(answer_words) + 10
    return "".join(parts), spans


def bench_import(
    n_interviews: int = 50, n_codings: int = 5000, repeats: int = 5, *, dialect: str = "utf16", crlf: bool = True, seed: int = 0
) -> dict[str, object]:
    """Median seconds of `read_qdpx_collection` on a generated project (default: NVivo for Windows style:
    UTF-16 positions, BOM, CRLF counted 2, the dialect with the most conversion work)."""
    rng = random.Random(seed)
    codebook = load_codebook()
    texts, turn_spans = [], []
    for number in range(n_interviews):
        text, spans = generate_interview(rng, 15_000)
        texts.append((f"Interview {number + 1:02d}", text))
        turn_spans.append(spans)
    labels = [code.label for code in codebook.codes]
    selections = []
    for k in range(n_codings):
        source = k % n_interviews
        start, end = rng.choice(turn_spans[source])
        selections.append(FixtureSelection(source, start, end, (rng.choice(labels),), rng.choice(["An", "Bram"])))
    with tempfile.TemporaryDirectory() as folder:
        path = write_dialect_project(
            Path(folder) / "bench.qdpx", texts=texts, selections=selections, dialect=dialect, crlf=crlf, bom=crlf,
            origin="NVivo for Windows (generated)",
        )
        size = path.stat().st_size
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            collection = read_qdpx_collection(path, codebook)
            times.append(time.perf_counter() - began)
    return {
        "median_s": round(statistics.median(times), 3),
        "times_s": [round(t, 3) for t in times],
        "n_interviews": n_interviews,
        "n_codings": n_codings,
        "characters": sum(len(t) for _, t in texts),
        "archive_bytes": size,
        "dialect": collection.documents[next(iter(collection.documents))].metadata["qdpx_dialect"],
        "imported_codings": len(collection.codings),
    }


if __name__ == "__main__":
    print(json.dumps(bench_import(), indent=2))
