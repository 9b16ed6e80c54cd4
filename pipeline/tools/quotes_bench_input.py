"""Write the benchmark input of the throughput target: the study's real quotes, repeated, as prepared fragments.

`capcode bench` scores codable fragments outside the `gold` split (the quotes are `gold` in
`data/prepared/fragments.jsonl`), so the quotes are written with split `test` and each copy gets its own id
(`<id>#<k>`). The issue's target (>= 100 fragments/s) is measured on real speech, whose fragments are longer
than most written ones:

    python -m pipeline.tools.quotes_bench_input -o /tmp/quotes_x8.jsonl
    capcode bench --prepared /tmp/quotes_x8.jsonl --fragments 376 --repeats 3 \\
        --skip segment,qdpx,e2e,train,growth,startup,memory,parallel -o /tmp/bench_quotes.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from pipeline.core.errors import InputError
from pipeline.core.io_utils import read_jsonl


def quote_copies(prepared: Path, collection: str, copies: int) -> list[dict]:
    """`copies` copies of the codable fragments of `collection`, split `test`, ids suffixed `#k`."""
    quotes = [r for r in read_jsonl(prepared) if r.get("collection") == collection and r.get("codable")]
    if not quotes:
        raise InputError(prepared, f"no codable fragments of collection '{collection}'; run `dvc repro prepare`")
    return [{**r, "id": f"{r['id']}#{k}", "split": "test"} for k in range(copies) for r in quotes]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared/fragments.jsonl"))
    parser.add_argument("--collection", default="study-quotes")
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = quote_copies(args.prepared, args.collection, args.copies)
    args.output.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
