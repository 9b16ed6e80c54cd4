"""DVC stage `train`: fine-tune the backbone with a multi-label head on the prepared fragments.

Uses the transformers `Trainer` (fused AdamW, seeded, evaluation and checkpoints every epoch, early stopping
on validation macro-F1, best model restored), logs to dvclive, tunes per-code thresholds on the validation
split and writes a complete model directory atomically. `resume=True` continues from the last checkpoint
after an interruption.

Data-parallel training runs under the launchers teams already have: `torchrun --nproc-per-node N -m pipeline
train ...` or `accelerate launch -m pipeline train ...` start N processes (gloo on CPUs, nccl on GPUs) and the
`Trainer`'s own distributed support (DDP) does the rest. The effective batch stays `train.batch_size`:
per-device batch x processes x gradient accumulation steps = `train.batch_size` (`split_batch`); on a GPU the
per-device batch is at most `compute.train_gpu_batch_size`. Only the first process converts the backbone,
clears old checkpoints, logs to dvclive, tunes thresholds and writes the model; the `Trainer` saves
checkpoints from it alone, and `--resume` continues from them with the same number of processes.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import REPO_ROOT
from pipeline.core.errors import InputError
from pipeline.core.io_utils import atomic_directory
from pipeline.core.params import TrainParams, as_dict, load_params
from pipeline.model.adaptation import check_weighted_axes, embed, save_replay
from pipeline.model.backbone import backbone_identity, portable_spec, resolve_backbone
from pipeline.model.classifier import (
    CodeClassifier,
    ModelMetadata,
    load_encoder,
    model_input_text,
    positive_weights,
    save_model,
)
from pipeline.model.device import select_device
from pipeline.model.distributed import SINGLE, World, barrier, join_world, leave_world
from pipeline.model.precision import resolve_precision
from pipeline.model.scoring import score_texts
from pipeline.model.thresholds import macro_f1, tune_thresholds
from pipeline.model.training_data import LabelledFragments, data_hash, label_weight_matrix, load_training_splits


def _dataset(fragments: LabelledFragments, tokenizer, *, prefix: str, max_length: int,
             loss_weights: np.ndarray | None = None):
    from datasets import Dataset

    encoded = tokenizer([model_input_text(t, prefix) for t in fragments.texts], truncation=True, max_length=max_length)
    columns = {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "labels": [[float(v) for v in row] for row in fragments.labels],
        "length": [len(ids) for ids in encoded["input_ids"]],
    }
    if loss_weights is not None:  # `train.label_weights`: CodeClassifier.forward weighs each label's loss
        columns["loss_weights"] = [[float(v) for v in row] for row in loss_weights]
    return Dataset.from_dict(columns)


def describe_label_weights(collections: list[str], params: TrainParams) -> str:
    """"; field's strategisch_operationeel coding weighs 0 (1,919 fragments)" for the training log ("" where
    every label weighs 1)."""
    present = Counter(collections)
    parts = [f"{collection}'s {axis} coding weighs {weight:g} ({present[collection]} fragments)"
             for axis, mix in sorted(params.label_weights.items()) for collection, weight in sorted(mix.items())
             if weight != 1.0 and present[collection]]
    return "; " + ", ".join(parts) if parts else ""


def _compute_metrics(prediction) -> dict[str, float]:
    logits, labels = prediction.predictions, prediction.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    probabilities = 1 / (1 + np.exp(-logits))
    return {"macro_f1": macro_f1(labels.astype(int), probabilities, np.full(labels.shape[1], 0.5))}


def build_classifier(backbone_dir: Path, n_codes: int, params: TrainParams, train_labels: torch.Tensor,
                     counted: torch.Tensor | None = None):
    """The classifier on the backbone, with positive-class weights from the training labels (`counted`: only
    the labels the loss reads, see `train.label_weights`), and its tokenizer."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(backbone_dir, local_files_only=True)
    encoder = load_encoder(backbone_dir)
    if params.freeze_word_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    weights = positive_weights(train_labels, scheme=params.pos_weight, cap=float(params.max_pos_weight),
                               counted=counted)
    model = CodeClassifier(encoder, n_codes, dropout=float(params.dropout), pos_weight=weights)
    return model, tokenizer


def split_batch(batch_size: int, *, processes: int, max_per_device: int | None = None) -> tuple[int, int]:
    """(per-device batch, gradient accumulation steps) such that per-device x processes x accumulation is
    exactly `batch_size`, with the per-device batch as large as `max_per_device` allows (None: no cap)."""
    if batch_size % processes:
        raise InputError("configs/params.yaml", f"train.batch_size {batch_size} cannot be split evenly over "
                                                f"{processes} processes; choose a multiple of {processes}")
    per_process = batch_size // processes
    cap = min(per_process, max_per_device or per_process)
    per_device = max(d for d in range(1, cap + 1) if per_process % d == 0)
    return per_device, per_process // per_device


@dataclass
class TrainingRun:
    """Everything one training run needs: the configured `Trainer` and what the model directory records."""

    trainer: Any
    tokenizer: Any
    train_set: LabelledFragments
    validation_set: LabelledFragments
    params: TrainParams
    codebook: Codebook
    backbone_spec: str
    backbone_dir: Path
    max_length: int
    precision: str
    resume_from_checkpoint: bool
    live: Any = None
    world: World = SINGLE
    batching: dict[str, Any] | None = None


def _training_arguments(params: TrainParams, *, checkpoint_dir: Path, precision: str, max_steps: int | None,
                        save_checkpoints: bool, device_type: str = "cpu", per_device_batch: int | None = None,
                        accumulation: int = 1, distributed: bool = False):
    from transformers import TrainingArguments

    by = "steps" if max_steps else "epoch"  # smoke runs evaluate and save once, at their last step
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        num_train_epochs=float(params.epochs),
        max_steps=max_steps or -1,
        per_device_train_batch_size=per_device_batch or int(params.batch_size),
        gradient_accumulation_steps=accumulation,
        per_device_eval_batch_size=int(params.eval_batch_size),
        learning_rate=float(params.learning_rate),
        weight_decay=float(params.weight_decay),
        warmup_steps=float(params.warmup_ratio),  # a float below 1 is a share of all steps
        optim="adamw_torch_fused",
        bf16=precision == "bf16",
        fp16=precision == "fp16",  # a GPU without bf16
        use_cpu=device_type == "cpu",
        ddp_backend=("nccl" if device_type == "cuda" else "gloo") if distributed else None,
        ddp_find_unused_parameters=False,
        eval_strategy=by,
        save_strategy=by if save_checkpoints else "no",
        eval_steps=max_steps or None,
        save_steps=max_steps or 500,  # by epoch this is unused (500 is the library's default)
        logging_strategy="steps",
        logging_steps=10,
        load_best_model_at_end=save_checkpoints,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        save_total_limit=int(params.save_total_limit),
        seed=int(params.seed),
        data_seed=int(params.seed),
        train_sampling_strategy="group_by_length",
        dataloader_num_workers=0,
        report_to="none",  # dvclive is attached as a callback writing to its own directory
        disable_tqdm=False,
    )


def prepare_run(
    *,
    prepared: Path,
    checkpoint_dir: Path,
    live_dir: Path | None = None,
    resume: bool = False,
    params_path: Path | None = None,
    codebook_path: Path | None = None,
    max_steps: int | None = None,
    backbone: str | None = None,
    save_checkpoints: bool = True,
) -> TrainingRun:
    """Load data, backbone and params and configure the `Trainer` (the benchmark times its steps)."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, set_seed

    all_params = load_params(params_path)
    params, compute = all_params.train, all_params.compute
    codebook = load_codebook(codebook_path)
    check_weighted_axes(params.label_weights, codebook, setting="train.label_weights",
                        params_source=all_params.source)
    train_set, validation_set = load_training_splits(prepared, coder=params.label_coder, code_ids=codebook.code_ids)
    device = select_device(compute.device)
    world = join_world(device)  # one process without a launcher; the Trainer reuses the launcher's group
    per_device, accumulation = split_batch(int(params.batch_size), processes=world.size,
                                           max_per_device=int(compute.train_gpu_batch_size)
                                           if device.type == "cuda" else None)
    set_seed(int(params.seed))
    backbone_spec = backbone or params.backbone
    if not world.is_main:
        barrier(world)  # the first process converts a bundled backbone; the others wait and reuse it
    backbone_dir = resolve_backbone(backbone_spec, cache_dir=REPO_ROOT / "models")
    if world.is_main:
        barrier(world)
    loss_weights = label_weight_matrix(train_set.collections, params.label_weights, codebook)
    model, tokenizer = build_classifier(backbone_dir, len(codebook.code_ids), params,
                                        torch.tensor(train_set.labels, dtype=torch.float),
                                        counted=None if loss_weights is None else torch.tensor(loss_weights > 0))
    # never longer than the encoder's position table: a longer window would index past it
    max_length = min(int(params.max_length), int(model.encoder.config.max_position_embeddings))
    if max_length < int(params.max_length):
        print(f"train: max_length {params.max_length} exceeds the backbone's {max_length} positions; using "
              f"{max_length}", file=sys.stderr)
    precision = resolve_precision(params.precision, str(device))
    batching = {"device": device.type, "processes": world.size, "per_device_batch_size": per_device,
                "gradient_accumulation_steps": accumulation, "effective_batch_size": per_device * accumulation * world.size}
    if world.is_main:
        print(f"train: {len(train_set)} train / {len(validation_set)} validation fragments"
              f"{describe_label_weights(train_set.collections, params)}, backbone {backbone_spec}, "
              f"precision {precision}, device {device.type}"
              + (f", {world.size} processes x batch {per_device} x accumulation {accumulation}" if world.distributed
                 or accumulation > 1 else ""), file=sys.stderr)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    has_checkpoint = any(checkpoint_dir.glob("checkpoint-*"))
    barrier(world)  # every process has looked before the first one clears old checkpoints
    if resume and not has_checkpoint and world.is_main:
        print(f"train: --resume: no checkpoint in {checkpoint_dir}, starting from the beginning", file=sys.stderr)
    if not resume and has_checkpoint and world.is_main:
        shutil.rmtree(checkpoint_dir)  # a fresh run must not mix with an old run's checkpoints
    barrier(world)
    callbacks: list[Any] = [EarlyStoppingCallback(early_stopping_patience=int(params.early_stopping_patience))]
    live = None
    if live_dir is not None and world.is_main:  # dvclive: the first process only
        from transformers.integrations import DVCLiveCallback

        from dvclive import Live

        # dvcyaml=False: dvc.yaml declares the metrics and plots; dvclive must not rewrite it
        live = Live(str(live_dir), report=None, save_dvc_exp=False, dvcyaml=False, resume=resume and has_checkpoint)
        callbacks.append(DVCLiveCallback(live=live, log_model=None))
    prefix = params.text_prefix
    trainer = Trainer(
        model=model,
        args=_training_arguments(params, checkpoint_dir=checkpoint_dir, precision=precision, max_steps=max_steps,
                                 save_checkpoints=save_checkpoints, device_type=device.type,
                                 per_device_batch=per_device, accumulation=accumulation,
                                 distributed=world.distributed),
        train_dataset=_dataset(train_set, tokenizer, prefix=prefix, max_length=max_length, loss_weights=loss_weights),
        eval_dataset=_dataset(validation_set, tokenizer, prefix=prefix, max_length=max_length),
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=_compute_metrics,
        callbacks=callbacks,
    )
    return TrainingRun(trainer, tokenizer, train_set, validation_set, params, codebook, backbone_spec, backbone_dir,
                       max_length, precision, resume and has_checkpoint, live, world, batching)


def _checkpoint_name(path: str | None) -> str | None:
    return None if path is None else Path(path).name


def finish_run(run: TrainingRun, model_dir: Path) -> ModelMetadata:
    """Tune per-code thresholds on the validation split and write the model directory atomically."""
    params, code_ids = run.params, run.codebook.code_ids
    model = run.trainer.model
    scores = score_texts(model, run.tokenizer, run.validation_set.texts, text_prefix=params.text_prefix,
                         max_length=run.max_length, batch_size=int(params.eval_batch_size),
                         precision=run.precision, long_fragments="truncate")
    truth = np.array(run.validation_set.labels)
    thresholds = tune_thresholds(truth, scores.probabilities, list(params.threshold_grid))
    validation = {
        "macro_f1_at_0.5": macro_f1(truth, scores.probabilities, np.full(len(code_ids), 0.5)),
        "macro_f1_tuned": macro_f1(truth, scores.probabilities, thresholds),
        "n_train": len(run.train_set),
        "n_validation": len(run.validation_set),
        "steps": run.trainer.state.global_step,
        # the checkpoint's name, not its path: model metadata holds no path of the training machine
        "best_checkpoint": _checkpoint_name(run.trainer.state.best_model_checkpoint),
        **(run.batching or {}),
    }
    if run.live is not None:
        run.live.summary.update({f"validation/{k}": v for k, v in validation.items() if isinstance(v, float)})
        run.live.end()
    metadata = ModelMetadata(
        code_ids=code_ids,
        codebook_fingerprint=run.codebook.fingerprint(),
        thresholds={code: float(t) for code, t in zip(code_ids, thresholds)},
        backbone={"spec": portable_spec(run.backbone_spec, root=REPO_ROOT), **backbone_identity(run.backbone_dir)},
        training_data_sha256=data_hash(run.train_set, run.validation_set),
        params={**as_dict(params), "backbone": portable_spec(params.backbone, root=REPO_ROOT)},
        max_length=run.max_length,
        text_prefix=params.text_prefix,
        label_coder=params.label_coder,
        synthetic_training_data=run.train_set.synthetic,
        name=model_dir.name,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        validation=validation,
        training_documents=sorted(set(run.train_set.documents) | set(run.validation_set.documents)),
        precision=run.precision,
    )
    replay_x = embed(model, run.tokenizer, run.train_set.texts, text_prefix=params.text_prefix,
                     max_length=run.max_length, batch_size=params.eval_batch_size)
    with atomic_directory(model_dir) as staging:
        save_model(staging, model, run.tokenizer, metadata)
        save_replay(staging, replay_x, np.array(run.train_set.labels), run.train_set.collections)
    print(f"train: validation macro-F1 {validation['macro_f1_tuned']:.3f} with tuned thresholds "
          f"({validation['macro_f1_at_0.5']:.3f} at 0.5) -> {model_dir}", file=sys.stderr)
    return metadata


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
) -> ModelMetadata | None:
    """Train a model on `prepared` fragments and save it to `model_dir`; return its metadata (None on the
    other processes of a launched run: the first one writes the model)."""
    run = prepare_run(prepared=prepared, checkpoint_dir=checkpoint_dir, live_dir=live_dir, resume=resume,
                      params_path=params_path, codebook_path=codebook_path, max_steps=max_steps, backbone=backbone)
    try:
        run.trainer.train(resume_from_checkpoint=True if run.resume_from_checkpoint else None)
        metadata = finish_run(run, model_dir) if run.world.is_main else None
        barrier(run.world)  # the others end when the model is written
    finally:
        leave_world()
    return metadata
