"""DVC stage `evaluate`: the model against manual coding, next to two baselines and human-human agreement.

Evaluation sets, from the prepared fragments (codable fragments only):

- ``test``: the held-out test interviews (split ``test``), reference coder ``evaluate.test_coder``;
- ``gold``: the study's real quotes (split ``gold``), reference coder per axis from ``evaluate.gold_coders``
  (``report`` placed each quote under strategic or operational capacity; ``dev`` coded the other axes).

Systems: ``model`` (the trained model with its tuned thresholds, scored as `capcode predict` scores),
``tfidf`` and ``majority`` (`pipeline.model.baselines`, trained on the model's train split and label coder).
For every set and system: per code precision, recall, F1, support and a 2x2 confusion matrix; per axis
macro-F1 and a 4x4 confusion matrix (only pole 1 / only pole 2 / both / neither); overall macro-F1; and
the agreement of system and reference coder (`pipeline.agreement.summarise`: alpha, kappa and the rest,
with bootstrap intervals) per code and per axis. ``human``: agreement between every pair of human coders
on fragments both coded (any split), to read the model's figures against.

Outputs in ``output_dir``: ``headline.json`` (the DVC metrics: per set, macro-F1 and alpha per axis of
every system and of the human pairs; `headline_metrics`), ``metrics.json`` (flat keys
``<set>.<system>.<code|axis>.<metric>``, ``<set>.<system>.macro_f1``, ``human.<a>_<b>.<code|axis>.<alpha|kappa>``, ...), ``evaluation.json`` (the
full nested results), ``plots/f1_<set>.csv`` and ``plots/confusion_<set>_<axis>.csv`` for `dvc plots`,
and ``report.html``. Undefined figures (0/0) are null, with the reason in the notes.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook, axis_category, load_codebook
from pipeline.core.documents import PreparedFragment, read_prepared
from pipeline.core.errors import InputError
from pipeline.core.io_utils import atomic_writer, write_json
from pipeline.core.params import EvaluateParams, PredictParams, load_params
from pipeline.model.baselines import majority_labels, tfidf_labels
from pipeline.model.classifier import check_codebook, read_metadata
from pipeline.model.f1 import confusion, f1_from_counts, macro_mean
from pipeline.model.training_data import labelled_split
from pipeline.reliability.ratings import agreement_block, axis_categories, overlapping_pairs, summarise

SYSTEMS = ("model", "tfidf", "majority")
SYSTEM_DESCRIPTIONS = {
    "model": "the fine-tuned transformer, with its per-code thresholds",
    "tfidf": "baseline: TF-IDF word features + one logistic regression per code",
    "majority": "baseline: always the label most train fragments have",
}
MISSING = -1  # no reference label


@dataclass
class EvaluationSet:
    name: str
    description: str
    records: list[PreparedFragment]
    truth: np.ndarray  # (n_fragments, n_codes) 0/1, MISSING where the reference coder did not code that axis
    reference: dict[str, str]  # code -> reference coder

    @property
    def synthetic(self) -> bool:
        return any(r.synthetic for r in self.records)


def evaluation_set(
    records: Sequence[PreparedFragment], *, name: str, description: str, split: str, coder_of_axis: dict[str, str],
    codebook: Codebook,
) -> EvaluationSet:
    """Codable fragments of ``split`` with at least one reference label, and their reference matrix."""
    reference = {code.id: coder_of_axis[code.axis] for code in codebook.codes}
    chosen, rows = [], []
    for record in records:
        if record.split != split or not record.codable:
            continue
        row = [int(record.labels.get(reference[c], {}).get(c, MISSING)) for c in codebook.code_ids]
        if any(value != MISSING for value in row):
            chosen.append(record)
            rows.append(row)
    truth = np.array(rows, dtype=int).reshape(len(rows), len(codebook.code_ids))
    return EvaluationSet(name, description, chosen, truth, reference)


# --------------------------------------------------------------------------- scoring one system on one set


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else float(numerator / denominator)


def code_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Precision, recall, F1, support and 2x2 confusion [[tn, fp], [fn, tp]] of one code; arrays (n,) 0/1.

    Undefined ratios (0/0) are None; F1 follows `pipeline.model.f1`.
    """
    tp, fp, fn, tn = confusion(truth, predicted)
    return {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn), "f1": f1_from_counts(tp, fp, fn),
            "support": tp + fn, "n": len(truth), "confusion": [[tn, fp], [fn, tp]]}


def score_system(
    evaluation: EvaluationSet, predicted: np.ndarray, codebook: Codebook, *, n_boot: int, seed: int,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """All figures of one system's 0/1 ``predicted`` (n_fragments, n_codes) against ``evaluation.truth``."""
    codes: dict[str, Any] = {}
    for j, code in enumerate(codebook.code_ids):
        known = evaluation.truth[:, j] != MISSING
        truth, guess = evaluation.truth[known, j], predicted[known, j]
        codes[code] = code_scores(truth, guess)
        codes[code]["agreement"] = summarise(np.vstack([truth, guess]).astype(float), categories=[0, 1],
                                             n_boot=n_boot, seed=seed, confidence=confidence)
    axes: dict[str, Any] = {}
    for axis in codebook.axes:
        first, second = (codebook.code_ids.index(p) for p in axis.poles)
        known = (evaluation.truth[:, first] != MISSING) & (evaluation.truth[:, second] != MISSING)
        truth = _axis_codes(evaluation.truth[known][:, [first, second]])
        guess = _axis_codes(predicted[known][:, [first, second]])
        confusion = np.zeros((4, 4), dtype=int)
        np.add.at(confusion, (truth, guess), 1)
        axes[axis.id] = {
            "macro_f1": macro_mean([codes[p]["f1"] for p in axis.poles]),
            "n": int(known.sum()),
            "categories": axis_categories(axis),
            "confusion": confusion.tolist(),
            "agreement": summarise(np.vstack([truth, guess]).astype(float), categories=[0, 1, 2, 3],
                                   n_boot=n_boot, seed=seed, confidence=confidence),
        }
    return {"macro_f1": macro_mean([codes[c]["f1"] for c in codebook.code_ids if codes[c]["n"]]), "codes": codes,
            "axes": axes}


def _axis_codes(pair: np.ndarray) -> np.ndarray:
    """Axis category 0..3 (`pipeline.core.codebook.axis_category`) of 0/1 pole pairs (n, 2)."""
    return axis_category(pair[:, 0], pair[:, 1])


# --------------------------------------------------------------------------- predictions


def system_predictions(
    evaluations: Sequence[EvaluationSet], train_records: Sequence[PreparedFragment], *, model_dir: Path,
    codebook: Codebook, label_coder: str, params: EvaluateParams, predict_params: PredictParams, source: Path,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """{system: {set name: (n_fragments, n_codes) 0/1}} for the model and both baselines."""
    from pipeline.model.apply import apply_model

    code_ids = codebook.code_ids
    train = labelled_split(list(train_records), split="train", coder=label_coder, code_ids=code_ids, source=source)
    if not len(train):
        raise InputError(source, f"no train fragments coded by '{label_coder}' (the model's label coder): the "
                         "baselines need the model's train split")
    train_labels = np.array(train.labels, dtype=int)
    everything = [r for e in evaluations for r in e.records]
    scored, metadata = apply_model([{"id": r.id, "text": r.text, "codable": True} for r in everything],
                                   model_dir=model_dir, codebook=codebook, params=predict_params)
    model_labels = np.array([[r["labels"][c] for c in code_ids] for r in scored], dtype=int).reshape(-1, len(code_ids))
    tfidf = tfidf_labels(train.texts, train_labels, [r.text for r in everything], params=params.tfidf,
                         seed=int(params.seed))
    predictions: dict[str, dict[str, np.ndarray]] = {system: {} for system in SYSTEMS}
    start = 0
    for evaluation in evaluations:
        end = start + len(evaluation.records)
        predictions["model"][evaluation.name] = model_labels[start:end]
        predictions["tfidf"][evaluation.name] = tfidf[start:end]
        predictions["majority"][evaluation.name] = majority_labels(train_labels, end - start)
        start = end
    info = {"identity": metadata.identity, "directory": str(model_dir), "label_coder": label_coder,
            "backbone": metadata.backbone.get("spec"), "thresholds": metadata.thresholds,
            "trained_on_synthetic_data": metadata.synthetic_training_data, "n_train": len(train),
            "train_synthetic": train.synthetic}
    return predictions, info


# --------------------------------------------------------------------------- human-human agreement


def human_agreement(
    records: Sequence[PreparedFragment], codebook: Codebook, *, n_boot: int, seed: int, confidence: float = 0.95
) -> dict[str, Any]:
    """Agreement of every pair of human coders on codable fragments both coded (any split)."""
    codable = [r for r in records if r.codable]
    coders = sorted({coder for r in codable for coder in r.labels})
    pairs = {}
    for first, second in overlapping_pairs([r.labels for r in codable], coders):
        shared = [r for r in codable if first in r.labels and second in r.labels]
        block = agreement_block([r.labels for r in shared], [first, second], codebook, n_boot=n_boot, seed=seed,
                                confidence=confidence)
        pairs[f"{first}_{second}"] = {"coders": [first, second], "n_fragments": len(shared),
                                      "splits": sorted({r.split for r in shared}),
                                      "synthetic": any(r.synthetic for r in shared), **block}
    notes = [] if pairs else ["no fragment is coded by two human coders on the same axis: no human-human agreement"]
    return {"pairs": pairs, "notes": notes}


def heldout_comparison(
    evaluation: EvaluationSet, model_predicted: np.ndarray, codebook: Codebook, *, n_boot: int, seed: int,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Human-human next to model-human agreement on the SAME held-out fragments.

    For every pair of human coders who both coded some fragments of ``evaluation`` (the test split, which
    the model never trained on), agreement per code and per axis of: the two humans, the model with the
    first, the model with the second. ``model_predicted`` is (n_fragments, n_codes) 0/1 in the set's order.
    """
    coders = sorted({coder for r in evaluation.records for coder in r.labels})
    out: dict[str, Any] = {}
    for first, second in itertools.combinations(coders, 2):
        rows = [i for i, r in enumerate(evaluation.records) if first in r.labels and second in r.labels]
        if not rows:
            continue
        labels = {
            coder: np.array([[evaluation.records[i].labels[coder].get(c, MISSING) for c in codebook.code_ids]
                             for i in rows], dtype=int)
            for coder in (first, second)
        }
        labels["model"] = model_predicted[rows]
        comparisons = {f"{first} vs {second}": (first, second), f"model vs {first}": ("model", first),
                       f"model vs {second}": ("model", second)}
        blocks: dict[str, dict[str, Any]] = {name: {} for name in comparisons}
        for name, (a, b) in comparisons.items():
            for j, code in enumerate(codebook.code_ids):
                known = (labels[first][:, j] != MISSING) & (labels[second][:, j] != MISSING)
                if known.any():
                    pair = np.vstack([labels[a][known, j], labels[b][known, j]]).astype(float)
                    blocks[name][code] = summarise(pair, categories=[0, 1], n_boot=n_boot, seed=seed,
                                                   confidence=confidence)
            for axis in codebook.axes:
                cols = [codebook.code_ids.index(p) for p in axis.poles]
                known = np.all(labels[first][:, cols] != MISSING, axis=1) & np.all(labels[second][:, cols] != MISSING, axis=1)
                if known.any():
                    pair = np.vstack([_axis_codes(labels[a][known][:, cols]), _axis_codes(labels[b][known][:, cols])])
                    blocks[name][axis.id] = summarise(pair.astype(float), categories=[0, 1, 2, 3], n_boot=n_boot,
                                                      seed=seed, confidence=confidence)
        out[f"{first}_{second}"] = {"coders": [first, second], "n_fragments": len(rows), "comparisons": blocks}
    return out


# --------------------------------------------------------------------------- flat metrics and plot data


def _put_agreement(metrics: dict[str, Any], prefix: str, summary: dict[str, Any]) -> None:
    for key, name in (("krippendorff_alpha", "alpha"), ("cohen_kappa", "kappa")):
        interval = summary["ci95"].get(key)
        metrics[f"{prefix}.{name}"] = summary[key]
        metrics[f"{prefix}.{name}_low"] = None if interval is None else interval[0]
        metrics[f"{prefix}.{name}_high"] = None if interval is None else interval[1]


def flat_metrics(results: dict[str, Any]) -> dict[str, Any]:
    """The results as one flat mapping of dotted keys (for `dvc metrics show` and `dvc metrics diff`)."""
    metrics: dict[str, Any] = {}
    for set_name, evaluation in results["sets"].items():
        metrics[f"{set_name}.n_fragments"] = evaluation["n_fragments"]
        for system, scores in evaluation["systems"].items():
            prefix = f"{set_name}.{system}"
            metrics[f"{prefix}.macro_f1"] = scores["macro_f1"]
            for axis, figures in scores["axes"].items():
                metrics[f"{prefix}.{axis}.macro_f1"] = figures["macro_f1"]
                _put_agreement(metrics, f"{prefix}.{axis}", figures["agreement"])
            for code, figures in scores["codes"].items():
                for name in ("precision", "recall", "f1", "support"):
                    metrics[f"{prefix}.{code}.{name}"] = figures[name]
                _put_agreement(metrics, f"{prefix}.{code}", figures["agreement"])
    for pair, block in results.get("heldout", {}).items():
        metrics[f"heldout.{pair}.n_fragments"] = block["n_fragments"]
        for comparison, summaries in block["comparisons"].items():
            for name, summary in summaries.items():
                _put_agreement(metrics, f"heldout.{pair}.{comparison.replace(' vs ', '_')}.{name}", summary)
    for pair, block in results["human"]["pairs"].items():
        metrics[f"human.{pair}.n_fragments"] = block["n_fragments"]
        _put_agreement(metrics, f"human.{pair}", block)
        for group in ("per_code", "per_axis"):
            for name, summary in block[group].items():
                _put_agreement(metrics, f"human.{pair}.{name}", summary)
    return metrics


def headline_metrics(results: dict[str, Any]) -> dict[str, Any]:
    """The few figures `dvc metrics show` declares (``headline.json``): per evaluation set, for each system the
    overall macro-F1 and Krippendorff's alpha per axis; and alpha per axis of the human coder pairs on that
    set: on ``test`` the pairs that double-coded held-out interviews (the same fragments the systems are
    scored on), on another set the pairs whose shared fragments all lie in it. The detail stays in
    ``metrics.json`` and ``evaluation.json``."""
    headline: dict[str, Any] = {}
    for set_name, evaluation in results["sets"].items():
        block: dict[str, Any] = {
            system: {"macro_f1": scores["macro_f1"],
                     "alpha": {axis: figures["agreement"]["krippendorff_alpha"]
                               for axis, figures in scores["axes"].items()}}
            for system, scores in evaluation["systems"].items()
        }
        human: dict[str, Any] = {}
        if set_name == "test":
            for pair, heldout in results.get("heldout", {}).items():
                first, second = heldout["coders"]
                summaries = heldout["comparisons"][f"{first} vs {second}"]
                human[pair] = {"alpha": {axis: summaries[axis]["krippendorff_alpha"]
                                         for axis in evaluation["systems"]["model"]["axes"] if axis in summaries}}
        else:
            for pair, summary in results["human"]["pairs"].items():
                if summary["splits"] == [set_name]:
                    human[pair] = {"alpha": {axis: figures["krippendorff_alpha"]
                                             for axis, figures in summary["per_axis"].items()}}
        if human:
            block["human"] = human
        headline[set_name] = block
    return headline


def write_plot_data(output_dir: Path, results: dict[str, Any], codebook: Codebook) -> list[Path]:
    """``plots/f1_<set>.csv`` (label,code,system,f1) and ``plots/confusion_<set>_<axis>.csv`` (actual,
    predicted: one row per fragment, the model's prediction) for every set in ``evaluate.sets``."""
    plots = output_dir / "plots"
    written = []
    for set_name in ("test", "gold"):
        systems = results["sets"].get(set_name, {}).get("systems", {})
        path = plots / f"f1_{set_name}.csv"
        with atomic_writer(path) as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["label", "code", "system", "f1"])
            for code in codebook.code_ids:
                for system in SYSTEMS:
                    figures = systems.get(system, {}).get("codes", {}).get(code)
                    if figures and figures["f1"] is not None:
                        writer.writerow([f"{code} ({system})", code, system, round(figures["f1"], 4)])
        written.append(path)
        for axis in codebook.axes:
            path = plots / f"confusion_{set_name}_{axis.id}.csv"
            figures = systems.get("model", {}).get("axes", {}).get(axis.id)
            with atomic_writer(path) as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(["actual", "predicted"])
                if figures:
                    labels = figures["categories"]
                    for i, row in enumerate(figures["confusion"]):
                        for j, count in enumerate(row):
                            writer.writerows([[labels[i], labels[j]]] * count)
            written.append(path)
    return written


# --------------------------------------------------------------------------- the stage


def evaluation_sets(
    records: list[PreparedFragment], params: EvaluateParams, codebook: Codebook,
    params_source: str | Path = "configs/params.yaml",
) -> list[EvaluationSet]:
    test_coder = str(params.test_coder)
    gold_coders = dict(params.gold_coders)
    missing = [axis.id for axis in codebook.axes if axis.id not in gold_coders]
    if missing:
        raise InputError(params_source, f"evaluate.gold_coders names no coder for axis {', '.join(missing)}")
    test_collections = sorted({r.collection for r in records if r.split == "test"})
    per_collection = [
        evaluation_set([r for r in records if r.collection == name], name=f"test_{name}", split="test",
                       codebook=codebook, coder_of_axis={axis.id: test_coder for axis in codebook.axes},
                       description=f"held-out test interviews of collection {name}, reference coder {test_coder}")
        for name in test_collections] if len(test_collections) > 1 else []
    return [
        evaluation_set(records, name="test", split="test", codebook=codebook,
                       coder_of_axis={axis.id: test_coder for axis in codebook.axes},
                       description=f"held-out test interviews (split test), reference coder {test_coder}"),
        *per_collection,
        evaluation_set(records, name="gold", split="gold", codebook=codebook, coder_of_axis=gold_coders,
                       description="the study's real quotes (split gold), reference "
                       + ", ".join(f"{axis}: {coder}" for axis, coder in gold_coders.items())),
    ]


def evaluate(
    *, prepared: Path, model_dir: Path, output_dir: Path, params_path: Path | None = None,
    codebook_path: Path | None = None, live_dir: Path | None = None, crossval: Path | None = None,
    simulation: Path | None = None,
) -> dict[str, Any]:
    """Run the evaluation (module docstring), write its outputs to ``output_dir``; return the flat metrics.

    ``crossval`` (the `crossval` stage's crossval.json) adds the leave-one-case-out table, the learning curve
    and the ablation to the report: the honest figures on real quotes when the model was adapted on them.
    ``simulation`` (the `simulate` stage's simulation.json) adds its curves (random vs `capcode next`) and the
    fragments `next` saves.
    """
    all_params = load_params(params_path)
    params, predict_params = all_params.evaluate, all_params.predict
    codebook = load_codebook(codebook_path)
    simulated = _read_simulation(Path(simulation)) if simulation is not None else None  # bad input: before the work
    metadata = read_metadata(model_dir)
    check_codebook(metadata, codebook, model_dir)
    records = read_prepared(prepared)
    evaluations = [e for e in evaluation_sets(records, params, codebook, all_params.source) if len(e.records)]
    if not evaluations:
        raise InputError(prepared, f"no test fragments coded by '{params.test_coder}' and no gold fragments: "
                         "nothing to evaluate against")
    n_boot, seed = int(params.n_boot), int(params.seed)
    predictions, model_info = system_predictions(
        evaluations, records, model_dir=model_dir, codebook=codebook, label_coder=metadata.label_coder,
        params=params, predict_params=predict_params, source=prepared)
    results = build_results(evaluations, predictions, records, model_info=model_info, codebook=codebook,
                            n_boot=n_boot, seed=seed, confidence=params.confidence)
    trained_on = set(metadata.training_documents)
    for name, evaluation in results["sets"].items():
        seen = sorted({r.document for r in next(e for e in evaluations if e.name == name).records} & trained_on)
        evaluation["trained_on"] = len(seen)
        if seen:
            results["notes"].append(
                f"the model was trained or adapted on {len(seen)} of the {evaluation['n_documents']} documents of "
                f"set '{name}': its figures there are NOT held-out; see the leave-one-case-out section")
    if crossval is not None:
        results["crossval"] = json.loads(Path(crossval).read_text(encoding="utf-8"))
    if simulated is not None:
        results["simulation"] = simulated
    metrics = flat_metrics(results)
    write_outputs(output_dir, results, metrics, codebook)
    if live_dir is not None:
        _log_live(live_dir, results)
    return metrics


def _read_simulation(path: Path) -> dict[str, Any]:
    """The `simulate` stage's simulation.json, checked to be one (it is drawn in the report)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "not found; expected the simulate stage's simulation.json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a JSON file: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("corpora"), dict):
        raise InputError(path, "expected the simulate stage's simulation.json (with 'corpora')")
    return data


def build_results(
    evaluations: Sequence[EvaluationSet], predictions: dict[str, dict[str, np.ndarray]],
    records: Sequence[PreparedFragment], *, model_info: dict[str, Any], codebook: Codebook, n_boot: int, seed: int,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The nested results (``evaluation.json``) from each system's predictions on each evaluation set."""
    results: dict[str, Any] = {
        "model": model_info,
        "systems": SYSTEM_DESCRIPTIONS,
        "bootstrap": {"n_boot": n_boot, "seed": seed, "confidence": confidence},
        "sets": {},
        "notes": [],
    }
    for evaluation in evaluations:
        systems = {system: score_system(evaluation, predictions[system][evaluation.name], codebook, n_boot=n_boot,
                                        seed=seed, confidence=confidence) for system in SYSTEMS}
        results["sets"][evaluation.name] = {
            "description": evaluation.description,
            "synthetic": evaluation.synthetic,
            "n_fragments": len(evaluation.records),
            "n_documents": len({r.document for r in evaluation.records}),
            "reference": evaluation.reference,
            "systems": systems,
        }
        print(f"evaluate: {evaluation.name}: {len(evaluation.records)} fragments, macro-F1 "
              + ", ".join(f"{s} {_show(systems[s]['macro_f1'])}" for s in SYSTEMS), file=sys.stderr)
    for name in ("test", "gold"):
        if name not in results["sets"]:
            results["notes"].append(f"no {name} fragments with reference labels: the {name} section is empty")
    results["human"] = human_agreement(records, codebook, n_boot=n_boot, seed=seed, confidence=confidence)
    test = next((e for e in evaluations if e.name == "test"), None)
    results["heldout"] = ({} if test is None else
                          heldout_comparison(test, predictions["model"]["test"], codebook, n_boot=n_boot, seed=seed,
                                             confidence=confidence))
    results["synthetic"] = bool(model_info.get("train_synthetic")) \
        or any(s["synthetic"] for s in results["sets"].values()) \
        or any(p["synthetic"] for p in results["human"]["pairs"].values())
    return results


def _show(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def write_outputs(output_dir: Path, results: dict[str, Any], metrics: dict[str, Any], codebook: Codebook) -> None:
    from pipeline.report.html import evaluation_page

    html = evaluation_page(results, codebook)  # rendered first: a failure leaves the old outputs alone
    write_plot_data(output_dir, results, codebook)
    write_json(output_dir / "evaluation.json", results)
    write_json(output_dir / "metrics.json", metrics)
    write_json(output_dir / "headline.json", headline_metrics(results))
    with atomic_writer(output_dir / "report.html") as handle:
        handle.write(html)


def _log_live(live_dir: Path, results: dict[str, Any]) -> None:
    """The headline figures to dvclive (its own metrics file; dvc.yaml already declares ours)."""
    from dvclive import Live

    live = Live(str(live_dir), report=None, save_dvc_exp=False, dvcyaml=False)
    for set_name, evaluation in results["sets"].items():
        for system, scores in evaluation["systems"].items():
            if scores["macro_f1"] is not None:
                live.summary[f"{set_name}/{system}/macro_f1"] = scores["macro_f1"]
    live.end()
