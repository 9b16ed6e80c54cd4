"""`capcode adapt` / DVC stage `adapt`: learn a research team's own coding on top of a trained model.

A team codes a few interviews; `adapt` fits a new head on frozen encoder embeddings of the team's fragments
(replaying the base model's training fragments so nothing learned is lost) and writes a new model directory
that records what it was adapted on. Two heads (`adapt.head`):

- `axis_categories` (default): per axis a 4-way logistic regression over only pole 1 / only pole 2 / both /
  neither (`pipeline/model/category_head.py`), on the embeddings of an encoder built from the backbone the
  base model was fine-tuned from: by default its weights moved a fifth of the way to the fine-tuned ones
  (`adapt.encoder: interpolated`, `adapt.interpolation`), or the backbone as it is (`pretrained`). The
  written model carries that encoder and the replay embeddings it made, so adapting it again needs no
  --replay. Its out-of-fold agreement per axis, grouped by
  interview or case, is printed and recorded.
- `poles`: the model's six-score head refitted on its own fine-tuned encoder, with a decision rule tuned by
  cross-validation grouped by interview or case (`pipeline/model/adaptation.py` says why the head only).

Which one is the default, and why, is measured leave one case out on the real quotes (`capcode crossval`).

A `.qdpx` that went out with capcode's suggestions and came back reviewed is read as a reviewed project
(`pipeline.corpus.review`): only the interviews marked reviewed, the reviewer's codes as the truth, and per
code the accepted / rejected / added suggestions, printed and recorded in the model's `adapted.review`.

``coders`` chooses whose coding is the truth; several coders fill in axes in order (per axis, the first coder
that coded it, as `evaluate.gold_coders` does), and an axis nobody coded is masked, never read as absent.

Under torchrun (or `accelerate launch`) the processes share the encoder work, the only part that grows with
the number of fragments; the head fit and its cross-validation run in the first process (docs/scale-out.md).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.torch import save_file

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.errors import InputError
from pipeline.core.io_utils import atomic_directory
from pipeline.core.params import AdaptParams, load_params
from pipeline.corpus.review import outcome_lines
from pipeline.corpus.team import team_records
from pipeline.model.adaptation import (
    TeamFragments,
    adapt_head,
    adaptation_embedder,
    builds_encoder,
    check_head_fits_model,
    check_replay_weights,
    describe_replay,
    embed,
    finetuned_share,
    head_settings,
    load_replay,
    pretrained_encoder_dir,
    save_replay,
    team_fragments,
)
from pipeline.model.category_head import fit_team_and_replay, out_of_fold_alpha, replay_axis_weights
from pipeline.model.classifier import (
    AXIS_CATEGORIES,
    ENCODER_DIR,
    HEAD_FILE,
    METADATA_FILE,
    CodeClassifier,
    ModelMetadata,
    check_model_directory,
    load_model,
)
from pipeline.model.decision import CATEGORIES, axis_pole_indices
from pipeline.model.device import select_device
from pipeline.model.distributed import SINGLE, World, join_world, leave_world
from pipeline.model.training_data import replay_fragments

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def replay_embeddings(model_dir: Path, replay: Path | None, *, model: CodeClassifier, tokenizer: Any,
                      metadata: ModelMetadata, params: AdaptParams, codebook: Codebook,
                      world: World = SINGLE) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Replay embeddings, labels and collections: from `replay` prepared fragments (encoded now, the batches
    shared by the processes of `world`), or else the ones the base model stored at training time
    (`replay.safetensors`); at most `adapt.max_replay`, a seeded sample."""
    if replay is not None:
        fragments = replay_fragments(replay, coder=params.replay_coder, codebook=codebook,
                                     limit=params.max_replay, seed=params.seed)
        return embed(model, tokenizer, fragments.texts, text_prefix=metadata.text_prefix,
                     max_length=metadata.max_length, world=world), fragments.labels, fragments.collections
    stored = load_replay(model_dir)
    if stored is None:
        if world.is_main:
            print(f"adapt: {model_dir} stores no replay fragments and --replay was not given: adapting without "
                  "replay", file=sys.stderr)
        return np.zeros((0, model.head.in_features), dtype=np.float32), np.zeros((0, len(codebook.code_ids))), []
    x, y, collections = stored
    if world.is_main and params.reweighted_collections() and params.head == AXIS_CATEGORIES and len(x) \
            and not any(collections):
        print(f"adapt: {model_dir}'s stored replay records no collections (a model written before they were): "
              "adapt.replay_weights cannot tell them apart and every replay fragment weighs 1; pass --replay "
              "data/prepared/fragments.jsonl to apply them", file=sys.stderr)
    if len(x) > params.max_replay:
        chosen = np.sort(np.random.default_rng(params.seed).choice(len(x), size=params.max_replay, replace=False))
        x, y, collections = x[chosen], y[chosen], [collections[i] for i in chosen]
    return x, y.astype(float), collections


def team_hash(team: TeamFragments) -> str:
    digest = hashlib.sha256()
    for row in zip(team.ids, team.texts, np.nan_to_num(team.labels, nan=-1).tolist()):
        digest.update(json.dumps(row, ensure_ascii=False).encode())
    return digest.hexdigest()


def check_head_and_encoder(params: AdaptParams, metadata: ModelMetadata, model_dir: Path, replay: Path | None,
                           backbone: str | None) -> Path | None:
    """The backbone's directory when adapt builds the encoder it embeds with (else None: the model's own
    encoder), after refusing the combinations that cannot work, each with what to change."""
    check_head_fits_model(params, metadata, model_dir)
    if not builds_encoder(params, metadata):
        return None
    if replay is None:
        raise InputError(model_dir, f"adapt.encoder {params.encoder} embeds the replay fragments with the encoder "
                                    "it builds (the model stores fine-tuned ones): pass --replay "
                                    "data/prepared/fragments.jsonl, or set adapt.encoder: model")
    return pretrained_encoder_dir(metadata, backbone)


def encoder_description(params: AdaptParams) -> str:
    """How the encoder adapt builds is made, for the log and the model's `adapted.encoder`."""
    if params.encoder == "interpolated":
        return f"interpolated (pretrained backbone, {finetuned_share(params):g} of the way to the fine-tuned weights)"
    return params.encoder


def adapt_category_head(team_x: np.ndarray, team: TeamFragments, replay_x: np.ndarray, replay_y: np.ndarray, *,
                        replay_weights: np.ndarray, params: AdaptParams,
                        codebook: Codebook) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The axis_categories head fitted on all team + replay fragments (the replay weighing `replay_weights`
    [n_replay, n_axes] per axis), and its rule with the out-of-fold agreement per axis (grouped by interview or
    case) as the estimate `adapt` prints."""
    poles = axis_pole_indices(codebook.code_ids, codebook)
    weight, bias = fit_team_and_replay(team_x, team.labels, replay_x, replay_y, poles, real_weight=params.real_weight,
                                       c=params.category_c, seed=params.seed, replay_weights=replay_weights)
    cv = out_of_fold_alpha(team_x, team.labels, team.groups, replay_x, replay_y, poles,
                           real_weight=params.real_weight, c=params.category_c, seed=params.seed,
                           replay_weights=replay_weights)
    rule = {"kind": CATEGORIES, "thresholds": {c: 0.5 for c in codebook.code_ids},
            "axes": {axis.id: figures for axis, figures in zip(codebook.axes, cv)}}
    return weight, bias, rule


def write_adapted_model(output_dir: Path, *, base_dir: Path, model: CodeClassifier, metadata: ModelMetadata,
                        weight: np.ndarray, bias: np.ndarray, rule: dict[str, Any], adapted: dict[str, Any],
                        team_documents: Sequence[str], pretrained_dir: Path | None = None,
                        replay: tuple[np.ndarray, np.ndarray, list[str]] | None = None) -> ModelMetadata:
    """Copy the base model's encoder (or write the one built from the backbone in `pretrained_dir`, `model`'s),
    write the new head and metadata; atomic. A model adapted on a built encoder stores its replay embeddings
    (they are that encoder's), so adapting it again needs no --replay."""
    import torch

    categories = rule["kind"] == CATEGORIES
    new = replace(
        metadata,
        thresholds={c: float(rule["thresholds"][c]) for c in metadata.code_ids},
        decision=rule if rule["kind"] in ("axis", CATEGORIES) else None,  # `switches` rules are stored as kind axis
        head=AXIS_CATEGORIES if categories else metadata.head,
        encoder=adapted["params"]["encoder"] if pretrained_dir is not None else metadata.encoder,
        # a built encoder was never trained here: its head is fitted on fp32 embeddings (`embed`)
        precision="fp32" if pretrained_dir is not None else metadata.precision,
        adapted=adapted,
        training_data_sha256=hashlib.sha256((metadata.training_data_sha256 + adapted["team_sha256"]).encode()).hexdigest(),
        training_documents=sorted(set(metadata.training_documents) | set(team_documents)),
        name=output_dir.name,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    with atomic_directory(output_dir) as staging:
        shutil.copytree(base_dir, staging, dirs_exist_ok=True)
        if pretrained_dir is not None:  # the encoder the head was fitted on, saved as `capcode train` saves one
            shutil.rmtree(staging / ENCODER_DIR)
            model.encoder.save_pretrained(staging / ENCODER_DIR)  # type: ignore[operator]
            for name in TOKENIZER_FILES:
                shutil.copy2(pretrained_dir / name, staging / ENCODER_DIR / name)
        if new.encoder != "fine-tuned" and replay is not None:
            save_replay(staging, *replay)
        save_file({"weight": torch.from_numpy(weight.astype(np.float32)).contiguous(),
                   "bias": torch.from_numpy(bias.astype(np.float32)).contiguous()}, staging / HEAD_FILE)
        (staging / METADATA_FILE).write_text(json.dumps(asdict(new), indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
    return new


def adapt(*, inputs: Sequence[Path], coders: Sequence[str], model_dir: Path, output_dir: Path,
          replay: Path | None = None, params_path: Path | None = None,
          codebook_path: Path | None = None, backbone: str | None = None) -> dict[str, Any] | None:
    """Adapt the model in `model_dir` to the coding of `coders` in `inputs`; write `output_dir`.

    Under a launcher (`torchrun --nproc-per-node N -m pipeline adapt ...`) every process reads and checks the
    same input, embeds its share of the team (and replay) fragments on its own device and receives all
    embeddings; the first process then fits the head, tunes the rule and writes the model, the same model a
    single process writes (the fit is deterministic given the embeddings). Returns None on the others."""
    all_params = load_params(params_path)
    params = all_params.adapt
    codebook = load_codebook(codebook_path)
    if output_dir.resolve() == model_dir.resolve():
        raise InputError(output_dir, "the adapted model must go to a new directory, not over the base model")
    records, reviews = team_records(inputs, codebook, coders=coders,
                                    max_fragment_tokens=all_params.segment.max_fragment_tokens,
                                    min_fragment_share=all_params.prepare.min_fragment_share,
                                    min_span_share=all_params.prepare.min_span_share, group_by=params.group_by)
    present = {c for r in records for c in r["labels"]}
    missing = [c for c in coders if c not in present]
    where = ", ".join(map(str, inputs))
    if missing:
        raise InputError(where, f"no coding by '{missing[0]}'; coders found: {', '.join(sorted(present)) or 'none'}")
    team = team_fragments(records, coders=coders, codebook=codebook, group_by="group")
    if len(team) < 2:
        raise InputError(where, f"{len(team)} coded fragments by {', '.join(coders)}; adapt needs at least 2")
    metadata = check_model_directory(model_dir, codebook)
    check_replay_weights(params, codebook, params_source=all_params.source)
    pretrained_dir = check_head_and_encoder(params, metadata, model_dir, replay, backbone)
    if pretrained_dir is None:
        model, tokenizer, _ = load_model(model_dir, codebook)
    else:  # the team's and the replay fragments seen by the built encoder (the model's head is not loaded)
        model, tokenizer = adaptation_embedder(pretrained_dir, model_dir, finetuned_share(params),
                                               len(codebook.code_ids))
    device = select_device(all_params.compute.device)
    world = join_world(device)
    try:  # the encoder work, shared by the processes of a launched run
        model.to(device)
        team_x = embed(model, tokenizer, team.texts, text_prefix=metadata.text_prefix, max_length=metadata.max_length,
                       world=world)
        replay_x, replay_y, collections = replay_embeddings(model_dir, replay, model=model, tokenizer=tokenizer,
                                                            metadata=metadata, params=params, codebook=codebook,
                                                            world=world)
    finally:
        leave_world()
    if not world.is_main:
        return None
    for name, review in reviews.items():
        print(f"adapt: {name}: {len(review['documents'])} of {review['n_interviews_in_project']} interviews "
              f"reviewed by '{review['reviewer']}' ({review['marked_how']})", file=sys.stderr)
        for line in outcome_lines(review):
            print(f"adapt: {line}", file=sys.stderr)
    grouping = params.group_by + (" or interview" if reviews else "")
    encoder = encoder_description(params) if pretrained_dir is not None else f"model's own ({metadata.encoder})"
    print(f"adapt: {len(team)} team fragments ({len(set(team.groups))} groups by {grouping}), "
          f"{describe_replay(collections, params)}, head {params.head} on the {encoder} encoder", file=sys.stderr)
    if params.head == AXIS_CATEGORIES:
        weights = replay_axis_weights(collections, params.replay_weights, [axis.id for axis in codebook.axes])
        weight, bias, rule = adapt_category_head(team_x, team, replay_x, replay_y, replay_weights=weights,
                                                 params=params, codebook=codebook)
    else:
        if params.reweighted_collections():
            print("adapt: adapt.replay_weights weigh the axis_categories head's replay; the poles head replays "
                  "every fragment at weight 1", file=sys.stderr)
        weight, bias, rule = adapt_head(
            team_x, team, replay_x, replay_y, base_weight=model.head.weight.detach().cpu().numpy(),
            base_bias=model.head.bias.detach().cpu().numpy(), settings=head_settings(params),
            code_ids=codebook.code_ids, codebook=codebook, decision=params.decision, grid=params.threshold_grid,
            base_thresholds=[metadata.thresholds[c] for c in codebook.code_ids], min_evidence=params.min_evidence)
    adapted = {
        "base_model": metadata.identity,
        "inputs": [Path(p).name for p in inputs],
        "coders": list(coders),
        "documents": sorted(set(team.documents)),
        "n_fragments": len(team),
        "n_replay": len(replay_x),
        "replay_collections": dict(sorted(Counter(c or "unrecorded" for c in collections).items())),
        "team_sha256": team_hash(team),
        "params": asdict(params),
        "encoder": encoder,
        "decision_cv": rule.get("axes") or rule.get("cv"),
    }
    if reviews:
        adapted["review"] = reviews
    new = write_adapted_model(output_dir, base_dir=model_dir, model=model, metadata=metadata, weight=weight,
                              bias=bias, rule=rule, adapted=adapted, team_documents=team.documents,
                              pretrained_dir=pretrained_dir, replay=(replay_x, replay_y, collections))
    cv: dict[str, Any] = rule.get("axes") or rule.get("cv") or {}
    summary = "; ".join(f"{a}: " + ", ".join(f"{k} {v}" for k, v in s.items() if k != "n") for a, s in cv.items())
    what = "per axis the most probable of four categories" if rule["kind"] == CATEGORIES else f"'{params.decision}'"
    print(f"adapt: decision {what} ({summary}) -> {output_dir}", file=sys.stderr)
    return {"model": new.identity, "n_fragments": len(team), "decision": rule, "review": reviews}
