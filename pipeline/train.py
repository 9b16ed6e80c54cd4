"""DVC stage `train`: fine-tune the backbone with a multi-label head on the prepared fragments.

Uses the transformers `Trainer` (fused AdamW, seeded, evaluation and checkpoints every epoch, early stopping
on validation macro-F1, best model restored), logs to dvclive, tunes per-code thresholds on the validation
split and writes a complete model directory atomically. `resume=True` continues from the last checkpoint
after an interruption.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.backbone import backbone_identity, resolve_backbone
from pipeline.codebook import Codebook, load_codebook
from pipeline.config import REPO_ROOT, load_params
from pipeline.io_utils import atomic_directory
from pipeline.model import (
    CodeClassifier,
    ModelMetadata,
    load_encoder,
    model_input_text,
    positive_weights,
    save_model,
)
from pipeline.precision import resolve_precision
from pipeline.scoring import score_texts
from pipeline.thresholds import macro_f1, tune_thresholds
from pipeline.training_data import LabelledFragments, data_hash, load_training_splits


# Extra Trainer callbacks (the benchmark adds a step timer); empty in normal runs.
EXTRA_CALLBACKS: list[Any] = []


def _dataset(fragments: LabelledFragments, tokenizer, *, prefix: str, max_length: int):
    from datasets import Dataset

    encoded = tokenizer([model_input_text(t, prefix) for t in fragments.texts], truncation=True, max_length=max_length)
    return Dataset.from_dict({
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "labels": [[float(v) for v in row] for row in fragments.labels],
        "length": [len(ids) for ids in encoded["input_ids"]],
    })


def _compute_metrics(prediction) -> dict[str, float]:
    logits, labels = prediction.predictions, prediction.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    probabilities = 1 / (1 + np.exp(-logits))
    return {"macro_f1": macro_f1(labels.astype(int), probabilities, np.full(labels.shape[1], 0.5))}


def build_classifier(backbone_dir: Path, n_codes: int, params: dict[str, Any], train_labels: torch.Tensor):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(backbone_dir, local_files_only=True)
    encoder = load_encoder(backbone_dir)
    if params["freeze_word_embeddings"]:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    weights = positive_weights(train_labels, scheme=params["pos_weight"], cap=float(params["max_pos_weight"]))
    model = CodeClassifier(encoder, n_codes, dropout=float(params["dropout"]), pos_weight=weights)
    return model, tokenizer


def train(
    *,
    prepared: Path,
    model_dir: Path,
    checkpoint_dir: Path,
    live_dir: Path | None = None,
    resume: bool = False,
    params_path: Path | None = None,
    codebook_path: Path | None = None,
    max_steps: int | None = None,
    backbone: str | None = None,
    save_model_dir: bool = True,
) -> ModelMetadata:
    """Train a model on `prepared` fragments and save it to `model_dir`; return its metadata."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainingArguments, set_seed

    params = load_params("train", params_path)
    codebook: Codebook = load_codebook(codebook_path)
    code_ids = codebook.code_ids
    train_set, validation_set = load_training_splits(prepared, coder=params["label_coder"], code_ids=code_ids)
    seed = int(params["seed"])
    set_seed(seed)
    backbone_spec = backbone or params["backbone"]
    backbone_dir = resolve_backbone(backbone_spec, cache_dir=REPO_ROOT / "models")
    model, tokenizer = build_classifier(backbone_dir, len(code_ids), params, torch.tensor(train_set.labels, dtype=torch.float))
    prefix = params["text_prefix"]
    # never longer than the encoder's position table: a longer window would index past it
    max_length = min(int(params["max_length"]), int(model.encoder.config.max_position_embeddings))
    if max_length < int(params["max_length"]):
        print(f"train: max_length {params['max_length']} exceeds the backbone's {max_length} positions; using "
              f"{max_length}", file=sys.stderr)
    train_data = _dataset(train_set, tokenizer, prefix=prefix, max_length=max_length)
    validation_data = _dataset(validation_set, tokenizer, prefix=prefix, max_length=max_length)
    precision = resolve_precision(params["precision"])
    print(f"train: {len(train_set)} train / {len(validation_set)} validation fragments, backbone {backbone_spec}, "
          f"precision {precision}", file=sys.stderr)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    has_checkpoint = any(checkpoint_dir.glob("checkpoint-*"))
    if resume and not has_checkpoint:
        print(f"train: --resume: no checkpoint in {checkpoint_dir}, starting from the beginning", file=sys.stderr)
    if not resume and has_checkpoint:
        shutil.rmtree(checkpoint_dir)  # a fresh run must not mix with an old run's checkpoints
    callbacks = [EarlyStoppingCallback(early_stopping_patience=int(params["early_stopping_patience"])), *EXTRA_CALLBACKS]
    live = None
    if live_dir is not None:
        from dvclive import Live
        from transformers.integrations import DVCLiveCallback

        live = Live(str(live_dir), report=None, save_dvc_exp=False, dvcyaml=False, resume=resume and has_checkpoint)
        callbacks.append(DVCLiveCallback(live=live, log_model=None))
    arguments = TrainingArguments(
        output_dir=str(checkpoint_dir),
        num_train_epochs=float(params["epochs"]),
        max_steps=max_steps if max_steps else -1,
        per_device_train_batch_size=int(params["batch_size"]),
        per_device_eval_batch_size=int(params["eval_batch_size"]),
        learning_rate=float(params["learning_rate"]),
        weight_decay=float(params["weight_decay"]),
        warmup_steps=float(params["warmup_ratio"]),
        optim="adamw_torch_fused",
        bf16=precision == "bf16",
        use_cpu=not torch.cuda.is_available(),
        eval_strategy="steps" if max_steps else "epoch",
        save_strategy=("steps" if max_steps else "epoch") if save_model_dir else "no",
        eval_steps=max_steps or None,
        save_steps=max_steps or None,
        logging_strategy="steps",
        logging_steps=10,
        load_best_model_at_end=save_model_dir,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        save_total_limit=int(params["save_total_limit"]),
        seed=seed,
        data_seed=seed,
        train_sampling_strategy="group_by_length",
        dataloader_num_workers=0,
        report_to="none",
        disable_tqdm=False,
    )
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=train_data,
        eval_dataset=validation_data,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=_compute_metrics,
        callbacks=callbacks,
    )
    trainer.train(resume_from_checkpoint=True if resume and has_checkpoint else None)
    if not save_model_dir:  # benchmark runs: only the step timings matter
        return None  # type: ignore[return-value]
    model = trainer.model
    scores = score_texts(model, tokenizer, validation_set.texts, text_prefix=prefix, max_length=max_length,
                         batch_size=int(params["eval_batch_size"]), precision=precision, long_fragments="truncate")
    truth = np.array(validation_set.labels)
    thresholds = tune_thresholds(truth, scores.probabilities, list(params["threshold_grid"]))
    validation = {
        "macro_f1_at_0.5": macro_f1(truth, scores.probabilities, np.full(len(code_ids), 0.5)),
        "macro_f1_tuned": macro_f1(truth, scores.probabilities, thresholds),
        "n_train": len(train_set),
        "n_validation": len(validation_set),
        "steps": trainer.state.global_step,
        "best_checkpoint": trainer.state.best_model_checkpoint,
    }
    if live is not None:
        live.summary.update({f"validation/{k}": v for k, v in validation.items() if isinstance(v, float)})
        live.end()
    metadata = ModelMetadata(
        code_ids=code_ids,
        codebook_fingerprint=codebook.fingerprint(),
        thresholds={code: float(t) for code, t in zip(code_ids, thresholds)},
        backbone={"spec": backbone_spec, **backbone_identity(backbone_dir)},
        training_data_sha256=data_hash(train_set, validation_set),
        params=params,
        max_length=max_length,
        text_prefix=prefix,
        label_coder=params["label_coder"],
        synthetic_training_data=train_set.synthetic,
        name=model_dir.name,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        validation=validation,
    )
    with atomic_directory(model_dir) as staging:
        save_model(staging, model, tokenizer, metadata)
    print(f"train: validation macro-F1 {validation['macro_f1_tuned']:.3f} with tuned thresholds "
          f"({validation['macro_f1_at_0.5']:.3f} at 0.5) -> {model_dir}", file=sys.stderr)
    return metadata
