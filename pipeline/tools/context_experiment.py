"""Experiment: does the preceding interviewer question help code a respondent fragment?

Issue 10 asks to try "the preceding interviewer question as context". The bundled real quotes cannot answer
it (the report prints the answers without the questions), so the experiment runs where questions exist: the
field-register interviews (`corpus/field`, synthetic, coded blind by coder A), trained on the train and
validation interviews and scored on the held-out test interviews (split by interview, as `prepare` splits).

Three inputs for the same classifier (per-code logistic regression on frozen pretrained-e5 embeddings, the
baseline of `capcode crossval`, so the encoder never saw any of these texts):

- ``answer``: the fragment alone (what the model sees today);
- ``answer+question``: the fragment's embedding next to its question's embedding (two features blocks);
- ``question: ... antwoord: ...``: one text with the question first, embedded together (truncated at the
  model's `max_length`, the question's words count against it).

Output: Krippendorff's alpha per axis with a bootstrap interval over fragments, printed and written as JSON.
Run: ``python -m pipeline.tools.context_experiment data/prepared/fragments.jsonl -o reports/experiments/context.json``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.documents import PreparedFragment, read_prepared
from pipeline.core.params import load_params
from pipeline.tools import write_result

SYSTEMS = ("answer", "answer+question", "question: ... antwoord: ...")


def with_questions(rows: Sequence[PreparedFragment], collection: str, coder: str,
                   codebook: Codebook) -> list[tuple[PreparedFragment, str]]:
    """Codable fragments of `collection` fully coded by `coder`, each with the last interviewer turn before it
    in the same document ("" when the respondent speaks first)."""
    out: list[tuple[PreparedFragment, str]] = []
    question: dict[str, str] = {}
    for row in sorted((r for r in rows if r.collection == collection), key=lambda r: (r.document, r.start)):
        if row.role == "interviewer":
            question[row.document] = row.text
        elif row.codable and set(codebook.code_ids) <= set(row.labels.get(coder, {})):
            out.append((row, question.get(row.document, "")))
    return out


def run(prepared: Path, *, collection: str, coder: str, n_boot: int, seed: int) -> dict[str, Any]:
    from pipeline.crossval import _logistic, axis_alpha, encoder_embeddings
    from pipeline.model.backbone import BUNDLED_SPEC
    from pipeline.model.decision import apply_decision, threshold_rule

    codebook = load_codebook()
    params = load_params()
    rows = with_questions(list(read_prepared(prepared)), collection, coder, codebook)
    if not rows:
        raise SystemExit(f"{prepared}: no codable '{collection}' fragments coded by '{coder}'")
    train = [i for i, (r, _) in enumerate(rows) if r.split in ("train", "validation")]
    test = [i for i, (r, _) in enumerate(rows) if r.split == "test"]
    y = np.array([[r.labels[coder][c] for c in codebook.code_ids] for r, _ in rows], dtype=float)
    print(f"context: {len(train)} train / {len(test)} test fragments of '{collection}'; embedding", file=sys.stderr)
    texts = ([r.text for r, _ in rows] + [q for _, q in rows]
             + [f"vraag: {q} antwoord: {r.text}" if q else r.text for r, q in rows])
    embedded = encoder_embeddings(BUNDLED_SPEC, texts, len(codebook.code_ids), prefix="query: ",
                                  max_length=params.train.max_length)  # the crossval baseline's encoder, loaded once
    answers, questions, joined = np.split(embedded, 3)
    features = {"answer": answers, "answer+question": np.hstack([answers, questions]),
                "question: ... antwoord: ...": joined}
    rule = threshold_rule(codebook.code_ids, [0.5] * len(codebook.code_ids))
    out: dict[str, Any] = {"collection": collection, "coder": coder, "n_train": len(train), "n_test": len(test),
                           "classifier": "per-code logistic regression on frozen pretrained e5, threshold 0.5",
                           "systems": {}}
    for name in SYSTEMS:
        x = features[name]
        probabilities = _logistic(x[train], y[train], np.ones(len(train)), x[test], seed=0)
        labels = apply_decision(probabilities, rule, codebook.code_ids, codebook)
        out["systems"][name] = axis_alpha(y[test], labels, codebook, n_boot=n_boot, confidence=0.95, seed=seed)
        print(f"context: {name:28s} " + "  ".join(
            f"{a} {s['alpha']:.3f} [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}]" for a, s in out["systems"][name].items()),
            file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prepared", type=Path, help="prepared fragments (data/prepared/fragments.jsonl)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--collection", default="field")
    parser.add_argument("--coder", default="A")
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args(argv)
    result = run(args.prepared, collection=args.collection, coder=args.coder, n_boot=args.n_boot, seed=0)
    write_result(args.output, result)


if __name__ == "__main__":
    main()
