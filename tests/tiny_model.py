"""Test data for the model tests, and the one tiny model they share.

- `prepared_records`: inline prepared fragments (all splits, coders A, B, report, dev); `train_tiny_model`
  trains on them in seconds. `conftest.py` builds that model ONCE per test session (fixtures `tiny_trained`
  and `tiny_model`); the tiny backbone comes from `tests/tiny_backbone.py`.
- `write_mini_corpus`: a small corpus-format collection (transcripts + span codings) for tests that run the
  prepare stage or train themselves (fixture `prepared_mini`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.config import DEFAULT_PARAMS
from pipeline.core.documents import PreparedFragment

CODES = ("intern", "extern", "beleid", "beheer", "strategisch", "operationeel")
# One sentence per code; a fragment joins the sentences of the codes it carries (or small talk for none).
SENTENCES = {
    "intern": "De diensten overleggen in het managementteam.",
    "extern": "We werken samen met de scholen en de vrijwilligers.",
    "beleid": "We schrijven een visie en prioriteiten voor het integratiebeleid.",
    "beheer": "Het budget en het personeel zijn beperkt.",
    "strategisch": "In het meerjarenplan kiezen we de richting voor de lange termijn.",
    "operationeel": "Elke dinsdag loopt het taalcafé in de bibliotheek.",
}
SMALL_TALK = ["Ja, dat is zo, hé.", "Euh, allez, ik weet het niet goed.", "Goeiemorgen, mag ik de opname starten?"]


def _record(document: str, index: int, text: str, split: str, labels: dict[str, dict[str, int]], *,
            synthetic: bool, collection: str) -> dict[str, Any]:
    return {"id": f"{document}@{index * 1000}-{index * 1000 + len(text)}", "document": document,
            "speaker": "R", "role": "respondent", "start": index * 1000, "end": index * 1000 + len(text),
            "text": text, "turn": index, "timestamp": None, "codable": True, "collection": collection,
            "synthetic": synthetic, "split": split, "labels": labels}


def prepared_records(seed: int = 3) -> list[dict[str, Any]]:
    """Synthetic interviews (train/validation/test, coder A; B double-codes part of train and test) and a
    real-looking gold set (coder `report` for strategisch/operationeel, `dev` for the other axes)."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    plan = [("train", 6, 12), ("validation", 2, 8), ("test", 2, 10)]
    for split, n_documents, per_document in plan:
        for d in range(n_documents):
            document = f"{split}{d}"
            for i in range(per_document):
                codes = [c for c in CODES if rng.random() < 0.35]
                text = " ".join(SENTENCES[c] for c in codes) or rng.choice(SMALL_TALK)
                labels = {"A": {c: int(c in codes) for c in CODES}}
                if d == 0 and split in ("train", "test"):  # coder B double-codes one interview, with slips
                    labels["B"] = {c: int((c in codes) != (rng.random() < 0.15)) for c in CODES}
                records.append(_record(document, i, text, split, labels, synthetic=True, collection="synthetic"))
        # an interviewer question: never coded, never evaluated
        records.append({**_record(f"{split}0", 99, "Hoe ziet u dat?", split, {}, synthetic=True,
                                  collection="synthetic"), "role": "interviewer", "codable": False})
    for q in range(8):
        strategic = q % 2 == 0
        codes = ["strategisch" if strategic else "operationeel", "intern" if q % 3 else "extern", "beleid"]
        text = " ".join(SENTENCES[c] for c in codes)
        labels = {"report": {"strategisch": int(strategic), "operationeel": int(not strategic)},
                  "dev": {c: int(c in codes) for c in ("intern", "extern", "beleid", "beheer")}}
        records.append(_record(f"q{q}", 0, text, "gold", labels, synthetic=False, collection="study-quotes"))
    return records


def prepared_fragments(seed: int = 3) -> list[PreparedFragment]:
    """`prepared_records` as the typed records the stages hand to each other."""
    return [PreparedFragment.from_dict(r) for r in prepared_records(seed)]


def write_prepared(path: Path, records: list[dict[str, Any]] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = prepared_records() if records is None else records
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_fast_params(path: Path) -> Path:
    """configs/params.yaml with settings for seconds-long runs (1 epoch, short inputs, few resamples)."""
    params = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    params["train"].update(epochs=1, batch_size=8, eval_batch_size=16, max_length=32, precision="fp32",
                           learning_rate=1e-3)
    params["predict"].update(precision="fp32", batch_size=16)
    params.setdefault("evaluate", {})["n_boot"] = 50
    params.setdefault("agreement", {})["n_boot"] = 50
    path.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def train_tiny_model(directory: Path, backbone: Path) -> tuple[Path, Path, Path]:
    """Train on the inline prepared data; return (model dir, prepared fragments, params file)."""
    from pipeline.train import train

    prepared = write_prepared(directory / "prepared" / "fragments.jsonl")
    params = write_fast_params(directory / "params.yaml")
    model_dir = directory / "model"
    train(prepared=prepared, model_dir=model_dir, checkpoint_dir=directory / "checkpoints", live_dir=None,
          params_path=params, backbone=str(backbone), max_steps=6)
    return model_dir, prepared, params


# --------------------------------------------------------------------------- a small corpus collection

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
