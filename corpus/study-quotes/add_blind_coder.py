"""Record a blind text-only coder's coding of the quotes as a coder of this collection (standard library only).

A blind coder gets the quotes in shuffled order under neutral ids (`<kit>/quotes_shown.jsonl` or
`fragments.jsonl`) and chapter 3 of the report, nothing else, and answers one JSON line per quote,
`{"id": ..., "codes": [...], "justification": ...}`. `<kit>/key.json` maps each neutral id to its quote's
qid (the coder never sees it). This script writes the coder's codes into `codings.jsonl` (one whole-quote
span per code, lines sorted by document, coder, code; the coder's earlier lines replaced) and lists the coder
in each quote's `coders` in `metadata.jsonl` (so a quote it left without a code on an axis reads as coded
"neither", not as uncoded):

    python corpus/study-quotes/add_blind_coder.py corpus/study-quotes/blind coding_blind.jsonl blind
    python corpus/study-quotes/add_blind_coder.py corpus/study-quotes/blind2 coding_blind2.jsonl blind2
    python corpus/study-quotes/add_blind_coder.py corpus/study-quotes/blind3 coding_blind3.jsonl blind3

Run on `blind` it rewrites `codings.jsonl` byte for byte as committed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CODES = ("intern", "extern", "beleid", "beheer", "strategisch", "operationeel")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kit", type=Path, help="folder with key.json and the coder's answer file")
    parser.add_argument("answers", help="the coder's answer file inside KIT")
    parser.add_argument("coder", help="the coder name to record")
    args = parser.parse_args()
    key = json.loads((args.kit / "key.json").read_text(encoding="utf-8"))
    answers = read_jsonl(args.kit / args.answers)
    metadata = read_jsonl(HERE / "metadata.jsonl")
    lengths = {m["document"]: len((HERE / m["file"]).read_text(encoding="utf-8")) for m in metadata}
    seen = [a["id"] for a in answers]
    if sorted(seen) != sorted(key) or len(set(seen)) != len(seen):
        sys.exit(f"{args.kit / args.answers}: expected one answer for each of the {len(key)} ids in key.json, "
                 f"found {len(seen)} answers ({len(set(seen))} distinct ids)")
    rows = [r for r in read_jsonl(HERE / "codings.jsonl") if r["coder"] != args.coder]
    for answer in answers:
        unknown = sorted(set(answer["codes"]) - set(CODES))
        if unknown:
            sys.exit(f"{args.kit / args.answers}: id {answer['id']} has unknown codes {unknown}; expected {CODES}")
        document = key[answer["id"]]
        rows += [{"document": document, "start": 0, "end": lengths[document], "code": code, "coder": args.coder}
                 for code in sorted(set(answer["codes"]))]
    rows.sort(key=lambda r: (r["document"], r["coder"], r["code"]))
    write_jsonl(HERE / "codings.jsonl", rows)
    for m in metadata:
        if args.coder not in m["coders"]:
            m["coders"].append(args.coder)
    write_jsonl(HERE / "metadata.jsonl", metadata)
    print(f"{args.coder}: {len(answers)} quotes, {sum(len(set(a['codes'])) for a in answers)} codes written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
