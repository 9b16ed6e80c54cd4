"""A small labelled corpus and a trained tiny model, shared by the model tests (built once per session)."""

from __future__ import annotations

import json
import random
from pathlib import Path

CODE_SENTENCES = {
    "intern": "Het managementteam en de diensten bespreken dat intern.",
    "extern": "Met de scholen en de vrijwilligers werken we samen.",
    "beleid": "We formuleren beleidsdoelstellingen en prioriteiten.",
    "beheer": "Het budget en het personeel zijn beperkt.",
    "strategisch": "Op lange termijn staat dat in het meerjarenplan.",
    "operationeel": "Elke dinsdag loopt het taalcafé.",
}


def write_mini_corpus(directory: Path, *, n_documents: int = 9, turns: int = 12, seed: int = 0) -> Path:
    """A corpus-format collection whose respondent turns are built from one sentence per code."""
    rng = random.Random(seed)
    (directory / "transcripts").mkdir(parents=True, exist_ok=True)
    metadata, codings = [], []
    for d in range(n_documents):
        text = ""
        for _ in range(turns):
            text += "I: Hoe zit dat?\n\n"
            codes = rng.sample(sorted(CODE_SENTENCES), rng.randint(0, 2))
            body = " ".join(CODE_SENTENCES[c] for c in codes) or "Ja, goeiemorgen, dat weet ik niet."
            start = len(text) + 3
            text += f"R: {body}\n\n"
            codings += [{"document": f"d{d}", "start": start, "end": start + len(body), "code": c, "coder": "A"}
                        for c in codes]
        (directory / "transcripts" / f"d{d}.txt").write_text(text, encoding="utf-8")
        metadata.append({"document": f"d{d}", "file": f"transcripts/d{d}.txt"})
    (directory / "metadata.jsonl").write_text("\n".join(json.dumps(m) for m in metadata), encoding="utf-8")
    (directory / "codings.jsonl").write_text("\n".join(json.dumps(c) for c in codings), encoding="utf-8")
    (directory / "collection.yaml").write_text("name: mini\nsynthetic: true\nuse: train\n", encoding="utf-8")
    return directory
