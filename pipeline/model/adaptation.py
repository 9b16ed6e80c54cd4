"""Adapting a trained model to a research team's own coding: a new head on the model's frozen encoder.

This module is the `poles` head (`adapt.head: poles`); the default head, four categories per axis on the
pretrained encoder, is `pipeline.model.category_head`. What both share: the team's fragments and their
masks (`team_fragments`), the embedding (`embed`) and the stored replay (`save_replay`, `load_replay`).

Why the head only: a team codes tens of fragments, not thousands. Fine-tuning 118M encoder weights on 50
fragments mostly memorises them; refitting the linear head on the fine-tuned encoder's embeddings learns the
team's reading of the codebook in seconds, which is what makes leave-one-case-out evaluation and learning
curves affordable on a laptop. The encoder's embeddings of every fragment are computed once (`embed`; under
a launcher the processes share its batches, and the first process fits the head).

What the head learns from:
- the team's fragments, with a loss mask: an axis the chosen coder(s) did not code is never read as
  "absent" (`TeamFragments.labels` holds nan there);
- replay: the synthetic training fragments the model was trained on, so what it learned there is kept;
  ``real_weight`` sets how much one team fragment counts against one replay fragment;
- an L2 pull towards the base head (``l2_to_base``), so few examples move it only as far as they justify.

The decision rule (six thresholds or a per-axis rule, `pipeline.model.decision`) is tuned on out-of-fold
probabilities: the head is refitted without each group (interview or case) and scores that group.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.core.codebook import Codebook
from pipeline.core.errors import InputError
from pipeline.core.params import AdaptParams
from pipeline.model.classifier import CodeClassifier, ModelMetadata, mean_pool, model_input_text
from pipeline.model.device import model_device
from pipeline.model.distributed import SINGLE, World, sum_across


@dataclass(frozen=True)
class TeamFragments:
    """A team's coded fragments: labels [n, n_codes] are 0/1, nan where that axis was not coded."""

    ids: list[str]
    texts: list[str]
    labels: np.ndarray
    groups: list[str]  # interview or case: the unit of cross-validation
    documents: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Sequence[int]) -> TeamFragments:
        index = list(index)
        return TeamFragments([self.ids[i] for i in index], [self.texts[i] for i in index], self.labels[index],
                             [self.groups[i] for i in index], [self.documents[i] for i in index])


def team_fragments(records: Sequence[dict[str, Any]], *, coders: Sequence[str], codebook: Codebook,
                   group_by: str = "document") -> TeamFragments:
    """Codable fragments with the team's labels: per axis, the first of `coders` that coded that axis there.

    `group_by` names the record field that groups fragments for cross-validation (`document`, or `case`
    from the collection metadata). Fragments on which none of `coders` coded any axis are left out.
    """
    code_ids = codebook.code_ids
    index = {c: k for k, c in enumerate(code_ids)}
    ids, texts, rows, groups, documents = [], [], [], [], []
    for record in records:
        if not record.get("codable", True):
            continue
        row = np.full(len(code_ids), np.nan)
        for axis in codebook.axes:
            for coder in coders:
                labels = record.get("labels", {}).get(coder, {})
                if axis.poles[0] in labels and axis.poles[1] in labels:
                    for pole in axis.poles:
                        row[index[pole]] = float(labels[pole])
                    break
        if np.isnan(row).all():
            continue
        ids.append(str(record["id"]))
        texts.append(record["text"])
        rows.append(row)
        groups.append(str(record.get(group_by, record.get("document"))))
        documents.append(str(record.get("document")))
    labels = np.array(rows, dtype=float).reshape(len(rows), len(code_ids))
    return TeamFragments(ids, texts, labels, groups, documents)


@torch.no_grad()
def embed(model: CodeClassifier, tokenizer: Any, texts: Sequence[str], *, text_prefix: str, max_length: int,
          batch_size: int = 32, world: World = SINGLE, all_layers: bool = False) -> np.ndarray:
    """Mean-pooled encoder states [n, hidden] of `texts` (fp32, first window of long texts), on the model's device.

    With `all_layers`, every layer's mean-pooled states instead, [n, layers + 1, hidden] (the embedding output
    first, the last layer, which is the default result, last): what an experiment on other layers reads.

    Under a launcher (`capcode adapt` under torchrun) every process forms the same length-sorted batches,
    embeds every `world.size`-th one and the rows are summed across processes (zeros elsewhere), so every
    process returns exactly the embeddings one process computes alone."""
    model.eval()
    device = model_device(model)
    order = np.argsort([len(t) for t in texts])
    encoder: Any = model.encoder  # a transformers PreTrainedModel or our `BertEncoder`: both carry `config`
    n_states = int(encoder.config.num_hidden_layers) + 1 if all_layers else 1
    out = np.zeros((len(texts), n_states, model.head.in_features), dtype=np.float32)
    for start in range(0, len(texts), batch_size)[world.rank::world.size]:
        chosen = order[start:start + batch_size]
        batch = tokenizer([model_input_text(texts[i], text_prefix) for i in chosen], truncation=True,
                          max_length=max_length, padding=True, return_tensors="pt")
        mask = batch["attention_mask"].to(device)
        if all_layers:  # a transformers encoder (our inference-only `BertEncoder` returns the last layer only)
            states = encoder(input_ids=batch["input_ids"].to(device), attention_mask=mask,
                             output_hidden_states=True).hidden_states
        else:
            states = (encoder(input_ids=batch["input_ids"].to(device), attention_mask=mask).last_hidden_state,)
        out[chosen] = torch.stack([mean_pool(h, mask) for h in states], dim=1).float().cpu().numpy()
    out = sum_across(world, out, device)
    return out if all_layers else out[:, 0]


@dataclass(frozen=True)
class HeadSettings:
    real_weight: float
    l2_to_base: float
    steps: int
    learning_rate: float
    seed: int


def head_settings(params: AdaptParams) -> HeadSettings:
    """The poles head's fit settings out of the `adapt` params."""
    return HeadSettings(real_weight=params.real_weight, l2_to_base=params.l2_to_base, steps=params.steps,
                        learning_rate=params.learning_rate, seed=params.seed)


def fit_head(team_x: np.ndarray, team_y: np.ndarray, replay_x: np.ndarray, replay_y: np.ndarray, *,
             base_weight: np.ndarray, base_bias: np.ndarray, settings: HeadSettings) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch AdamW on a masked, weighted binary cross-entropy; returns (weight [codes, dim], bias [codes]).

    Team rows weigh `real_weight` each, replay rows 1 each; nan labels are masked out of the loss.
    """
    torch.manual_seed(settings.seed)
    x = torch.from_numpy(np.vstack([team_x, replay_x]).astype(np.float32))
    y = np.vstack([team_y, replay_y]).astype(np.float32)
    mask = torch.from_numpy(~np.isnan(y)).float()
    y_t = torch.from_numpy(np.nan_to_num(y, nan=0.0))
    row_weight = torch.cat([torch.full((len(team_x),), float(settings.real_weight)), torch.ones(len(replay_x))])
    weights = mask * row_weight[:, None]
    w0, b0 = torch.from_numpy(base_weight.astype(np.float32)), torch.from_numpy(base_bias.astype(np.float32))
    weight, bias = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    optimiser = torch.optim.AdamW([weight, bias], lr=settings.learning_rate, weight_decay=0.0)
    total = weights.sum().clamp(min=1.0)
    for _ in range(settings.steps):
        optimiser.zero_grad()
        logits = x @ weight.T + bias
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, y_t, reduction="none") * weights).sum()
        loss = loss / total + settings.l2_to_base * ((weight - w0) ** 2).sum()
        loss.backward()
        optimiser.step()
    return weight.detach().numpy(), bias.detach().numpy()


REPLAY_FILE = "replay.safetensors"


def builds_encoder(params: AdaptParams, metadata: ModelMetadata) -> bool:
    """Whether the head is to be fitted on an encoder built from the backbone (`adapt.encoder` pretrained or
    interpolated) that the model does not carry yet (a model from `capcode train`); otherwise the model's own
    encoder embeds (an adapted model carries the encoder its head was fitted on)."""
    return params.encoder != "model" and metadata.encoder == "fine-tuned"


def check_head_fits_model(params: AdaptParams, metadata: ModelMetadata, model_dir: Path) -> None:
    """Refuse `adapt.head: poles` on a model whose head is not a poles head (an adapted categories model):
    the poles head refits the model's own six-score head, which that model does not have."""
    from pipeline.core.errors import InputError

    if params.head == "poles" and metadata.head != "poles":
        raise InputError(model_dir, f"the model's head is '{metadata.head}'; adapt.head poles refits a poles "
                                    "head: start from a model from `capcode train`, or set adapt.head: "
                                    "axis_categories")


def finetuned_share(params: AdaptParams) -> float:
    """The fine-tuned encoder's share of the weights of the encoder `adapt.encoder` names (0 = pretrained)."""
    return {"pretrained": 0.0, "interpolated": params.interpolation, "model": 1.0}[params.encoder]


def pretrained_encoder_dir(metadata: ModelMetadata, backbone: str | None) -> Path:
    """The backbone the model was fine-tuned from (`--backbone` where the metadata names one outside this
    checkout), checked against the sha256 the model recorded, so the head sees the encoder it will run on."""
    from pipeline.core.config import REPO_ROOT
    from pipeline.core.errors import InputError
    from pipeline.model.backbone import backbone_identity, resolve_backbone

    spec = backbone or metadata.backbone.get("spec", "")
    directory = resolve_backbone(spec, cache_dir=REPO_ROOT / "models")
    found, recorded = backbone_identity(directory).get("sha256"), metadata.backbone.get("sha256")
    if recorded and found != recorded:
        raise InputError(directory, f"backbone weights sha256 {str(found)[:12]}, the model was trained from "
                                    f"{recorded[:12]}: pass the model's own backbone with --backbone")
    return directory


def pretrained_embedder(directory: Path, n_codes: int) -> tuple[CodeClassifier, Any]:
    """(model, tokenizer) that embed with the pretrained encoder in `directory` (its head is unused)."""
    from pipeline.model.classifier import load_encoder
    from pipeline.model.text_tokenizer import load_tokenizer

    return CodeClassifier(load_encoder(directory), n_codes, dropout=0.0), load_tokenizer(directory)


def interpolate_encoders(pretrained: torch.nn.Module, finetuned: torch.nn.Module, share: float) -> torch.nn.Module:
    """`pretrained` with every floating-point weight set to (1 - share) * pretrained + share * fine-tuned.

    Weight-space interpolation between a pretrained model and its fine-tuned copy (WiSE-FT, Wortsman et al.,
    CVPR 2022) keeps much of the pretrained model's robustness to a shift of the input (here: written project
    texts -> real speech) while keeping part of what fine-tuning learned; it costs nothing at prediction time
    (one encoder of the same size). Integer buffers (position ids) are the pretrained ones. ValueError when
    the two do not have the same weights."""
    base, tuned = pretrained.state_dict(), finetuned.state_dict()
    if set(base) != set(tuned) or any(base[k].shape != tuned[k].shape for k in base):
        differing = sorted(set(base) ^ set(tuned)) or [k for k in base if base[k].shape != tuned[k].shape]
        raise ValueError(f"the fine-tuned encoder does not have the backbone's weights (first difference: "
                         f"{differing[0]})")
    pretrained.load_state_dict({k: torch.lerp(base[k], tuned[k].to(base[k].dtype), share)
                                if base[k].is_floating_point() else base[k] for k in base})
    return pretrained


def adaptation_embedder(pretrained_dir: Path, model_dir: Path, share: float, n_codes: int) -> tuple[CodeClassifier, Any]:
    """(model, tokenizer) that embed with the encoder `adapt` builds: the pretrained backbone in
    `pretrained_dir`, moved `share` of the way to the fine-tuned encoder of the model in `model_dir`."""
    from pipeline.core.errors import InputError
    from pipeline.model.classifier import ENCODER_DIR, load_encoder

    model, tokenizer = pretrained_embedder(pretrained_dir, n_codes)
    if share > 0:
        try:
            interpolate_encoders(model.encoder, load_encoder(model_dir / ENCODER_DIR), share)
        except ValueError as err:
            raise InputError(model_dir / ENCODER_DIR, f"{err}: it was not fine-tuned from {pretrained_dir.name}; "
                                                      "pass its own backbone with --backbone, or set "
                                                      "adapt.encoder: pretrained") from None
    return model, tokenizer


def save_replay(directory: Path, x: np.ndarray, y: np.ndarray, collections: Sequence[str] | None = None) -> None:
    """Store the encoder's embeddings [n, dim] and 0/1 labels [n, codes] of the model's own training fragments,
    and the collection each came from (in the file's header; `adapt.replay_weights` weighs by it).

    The encoder is frozen during adaptation, so these embeddings never change: storing them at training time
    spares `adapt` re-encoding thousands of replay fragments (most of its cost otherwise).
    """
    import torch
    from safetensors.torch import save_file

    if collections is not None and len(collections) != len(x):
        raise ValueError(f"{len(collections)} collections for {len(x)} replay fragments")
    header = {"collections": json.dumps(list(collections), ensure_ascii=False)} if collections is not None else None
    save_file({"x": torch.from_numpy(x.astype(np.float32)).contiguous(),
               "y": torch.from_numpy(y.astype(np.float32)).contiguous()}, directory / REPLAY_FILE, metadata=header)


def load_replay(directory: Path) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """(embeddings, labels, collections) stored by `save_replay`, or None when the model directory has none.
    A replay stored without collections (models from before they were recorded) has "" for each: weighed 1
    by any `adapt.replay_weights`."""
    from safetensors import safe_open

    path = directory / REPLAY_FILE
    if not path.is_file():
        return None
    with safe_open(str(path), framework="numpy") as stored:
        x, y = stored.get_tensor("x"), stored.get_tensor("y")
        header = stored.metadata() or {}
    collections = json.loads(header["collections"]) if "collections" in header else [""] * len(x)
    if len(collections) != len(x):
        raise InputError(path, f"records {len(collections)} collections for {len(x)} replay fragments; "
                               "retrain or re-adapt the model to rewrite it")
    return x, y, [str(c) for c in collections]


def check_replay_weights(params: AdaptParams, codebook: Codebook, *, params_source: str | Path) -> None:
    """Refuse an `adapt.replay_weights` axis the codebook does not have, naming the file the params came from."""
    check_weighted_axes(params.replay_weights, codebook, setting="adapt.replay_weights", params_source=params_source)


def check_weighted_axes(weights: Mapping[str, Any], codebook: Codebook, *, setting: str,
                        params_source: str | Path) -> None:
    """Refuse a per-axis weighting (`adapt.replay_weights`, `train.label_weights`) keyed by an axis the codebook
    does not have, naming the setting and the file the params came from."""
    axis_ids = [axis.id for axis in codebook.axes]
    unknown = sorted(set(weights) - set(axis_ids))
    if unknown:
        raise InputError(params_source, f"{setting}: unknown axis '{unknown[0]}'; expected axis ids of "
                                        f"the codebook: {', '.join(axis_ids)}")


def describe_replay(collections: Sequence[str], params: AdaptParams) -> str:
    """"2000 replay fragments (field 800, synthetic 1200; field weighs 0 on strategisch_operationeel)" for logs.
    A weighted collection the replay does not hold is named as such: its weight changes nothing."""
    counts = Counter(c or "unrecorded" for c in collections)
    text = f"{len(collections)} replay fragments"
    if not counts:
        return text
    text += " (" + ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
    listed = [(axis, collection, weight) for axis, mix in sorted(params.replay_weights.items())
              for collection, weight in sorted(mix.items()) if weight != 1.0] \
        if params.head == "axis_categories" else []
    weighted = [f"{collection} weighs {weight:g} on {axis}" for axis, collection, weight in listed
                if collection in counts]
    absent = sorted(params.reweighted_collections() - set(counts)) if params.head == "axis_categories" else []
    if weighted:
        text += "; " + ", ".join(weighted)
    if absent:
        text += f"; adapt.replay_weights names {', '.join(absent)}, which this replay does not hold"
    return text + ")"


def head_probabilities(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x @ weight.T + bias)))


def out_of_fold_probabilities(team_x: np.ndarray, team: TeamFragments, replay_x: np.ndarray, replay_y: np.ndarray,
                              *, base_weight: np.ndarray, base_bias: np.ndarray,
                              settings: HeadSettings) -> np.ndarray:
    """Probabilities [n_team, n_codes], each from a head fitted without that fragment's group."""
    probabilities = np.zeros(team.labels.shape)
    groups = sorted(set(team.groups))
    for group in groups:
        held = np.array([g == group for g in team.groups])
        if held.all():  # one group only: nothing to fit on; fall back to the base head
            probabilities[held] = head_probabilities(team_x[held], base_weight, base_bias)
            continue
        weight, bias = fit_head(team_x[~held], team.labels[~held], replay_x, replay_y, base_weight=base_weight,
                                base_bias=base_bias, settings=settings)
        probabilities[held] = head_probabilities(team_x[held], weight, bias)
    return probabilities


def tune_rule(probabilities: np.ndarray, truth: np.ndarray, code_ids: Sequence[str], codebook: Codebook, *,
              kind: str, grid: Sequence[float], base_thresholds: Sequence[float] | None = None,
              min_evidence: float = 0.0) -> dict[str, Any]:
    """Decision rule of `kind` tuned on out-of-fold probabilities: `axis` (thresholds and switches),
    `switches` (the base model's thresholds kept, switches chosen) or `thresholds` (six thresholds)."""
    from pipeline.model.decision import tune_axis_rule

    if kind == "rates":
        from pipeline.model.decision import rate_rule

        if base_thresholds is None:
            raise ValueError("decision 'rates' keeps the base model's thresholds: pass base_thresholds")
        return rate_rule(truth, code_ids, codebook, base_thresholds, max_rate=0.05, min_evidence=min_evidence)
    fixed = None
    if kind == "switches":
        if base_thresholds is None:
            raise ValueError("decision 'switches' keeps the base model's thresholds: pass base_thresholds")
        fixed = {c: float(t) for c, t in zip(code_ids, base_thresholds)}
    rule = tune_axis_rule(probabilities, truth, code_ids, codebook, grid, switches=kind != "thresholds",
                          fixed_thresholds=fixed)
    if kind == "thresholds":
        rule = {"kind": "thresholds", "thresholds": rule["thresholds"],
                "cv": {a: {"alpha_cv": s["alpha_cv"], "n": s["n"]} for a, s in rule["axes"].items()}}
    return rule


def adapt_head(team_x: np.ndarray, team: TeamFragments, replay_x: np.ndarray, replay_y: np.ndarray, *,
               base_weight: np.ndarray, base_bias: np.ndarray, settings: HeadSettings, code_ids: Sequence[str],
               codebook: Codebook, decision: str, grid: Sequence[float],
               base_thresholds: Sequence[float] | None = None,
               min_evidence: float = 0.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Out-of-fold probabilities -> tuned decision rule; then the head refitted on all team fragments."""
    oof = team.labels if decision == "rates" else out_of_fold_probabilities(  # rates read the coding only
        team_x, team, replay_x, replay_y, base_weight=base_weight, base_bias=base_bias, settings=settings)
    rule = tune_rule(oof, team.labels, code_ids, codebook, kind=decision, grid=grid, base_thresholds=base_thresholds,
                     min_evidence=min_evidence)
    weight, bias = fit_head(team_x, team.labels, replay_x, replay_y, base_weight=base_weight, base_bias=base_bias,
                            settings=settings)
    return weight, bias, rule
