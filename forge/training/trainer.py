"""The trainer for forge's pre-tokenized, assistant-masked rows: arguments, collator and backend.

One epoch-level schedule (epochs_max), a log line per step (forge's callbacks average them per
epoch), a checkpoint per epoch with only the last kept, a validation loss per epoch when there
is a validation set, batches of similar-length examples (or by tokens: training.tokens_per_batch),
each step split into micro-batches that fit the memory budget.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from forge.models.loading import use_bf16


def _supported(cls, kwargs: dict) -> dict:
    """Keep only the arguments this trl version's config knows (trl <=1.15 for Unsloth, newer elsewhere)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in kwargs.items() if k in names}


def _length_grouping(cls) -> dict:
    """Batches of similar-length examples: less padding. (Padding-free packing is only a win with
    varlen flash-attention kernels; with sdpa/eager it makes attention quadratic in the batch.)"""
    names = {f.name for f in dataclasses.fields(cls)}
    if "train_sampling_strategy" in names:
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True} if "group_by_length" in names else {}


def tracker_callbacks(cfg, log_dir: Path, fresh: bool) -> list:
    """The TensorBoard callback writing to `log_dir` (emptied first unless resuming), when asked for."""
    if cfg.training.report_to != "tensorboard":
        return []
    import shutil

    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    if fresh:
        shutil.rmtree(log_dir, ignore_errors=True)
    return [TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir)))]


def build_trainer(
    runtime,
    cfg,
    model,
    tokenizer,
    rows: list[dict],
    val_rows: list[dict],
    output_dir: Path,
    callbacks: list,
    precision: str,
    step_plan=None,
):
    """The trainer for pre-tokenized, assistant-masked rows. Unsloth patches trl's SFTTrainer, so CUDA runs use
    it; elsewhere a plain transformers Trainer does the same job faster on CPU with an identical loss
    (docs/benchmarks.md, bench/train_real.py): SFTTrainer's fused LM head also computes entropy and token
    accuracy every step. That
    Trainer computes the loss at the learned positions only (forge.training.completion_loss), splits each step
    into the micro-batches `step_plan` (forge.models.memory) allows, and takes batches by tokens with
    training.tokens_per_batch (forge.training.batching)."""
    from datasets import Dataset

    from forge.training.batching import TokenBatchSampler
    from forge.training.distributed import world_size

    t = cfg.training
    by_tokens = t.tokens_per_batch is not None and runtime.backend != "unsloth"
    sampler = TokenBatchSampler([len(r["input_ids"]) for r in rows], t.tokens_per_batch, t.seed) if by_tokens else None
    batches = (
        math.ceil(len(sampler) / world_size()) if sampler else math.ceil(len(rows) / (t.batch_size * world_size()))
    )
    steps_per_epoch = math.ceil(batches / t.gradient_accumulation_steps)
    checkpointing = bool(step_plan is not None and step_plan.checkpointing)
    common = dict(
        output_dir=str(output_dir),
        num_train_epochs=t.epochs_max,
        per_device_train_batch_size=1 if sampler else t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        warmup_steps=math.ceil(t.warmup_ratio * steps_per_epoch * t.epochs_max),
        weight_decay=t.weight_decay,
        lr_scheduler_type=t.lr_scheduler,
        seed=t.seed,
        data_seed=t.seed,
        logging_strategy="steps",
        logging_steps=1,
        disable_tqdm=True,
        report_to=["mlflow"] if t.report_to == "mlflow" else "none",  # tensorboard: tracker_callbacks
        # a checkpoint per epoch, only the last kept: `forge train --resume` continues from it after a crash
        save_strategy="epoch",
        save_total_limit=1,
        eval_strategy="epoch" if val_rows else "no",
        per_device_eval_batch_size=t.batch_size,
        prediction_loss_only=True,
        use_cpu=runtime.device == "cpu",
        bf16=use_bf16(precision),
        gradient_checkpointing=checkpointing,
        remove_unused_columns=False,
        gradient_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        # every LoRA weight gets a gradient each step: DDP need not search the graph for unused ones
        ddp_find_unused_parameters=False if t.method == "lora" else None,
    )
    data = Dataset.from_list(rows)
    val = Dataset.from_list(val_rows) if val_rows else None
    if runtime.backend == "unsloth":
        from trl import SFTConfig, SFTTrainer

        sft_args = SFTConfig(
            **_supported(
                SFTConfig,
                dict(
                    common,
                    activation_checkpointing=False,
                    max_length=None,
                    packing=False,
                    padding_free=False,
                    dataset_kwargs={"skip_prepare_dataset": True},
                    **_length_grouping(SFTConfig),
                ),
            )
        )
        return SFTTrainer(
            model=model,
            args=sft_args,
            train_dataset=data,
            eval_dataset=val,
            processing_class=tokenizer,
            callbacks=callbacks,
        )
    from transformers import TrainingArguments

    from forge.training.batching import pad_right
    from forge.training.completion_loss import trainer_class

    args = TrainingArguments(**_supported(TrainingArguments, dict(common, **_length_grouping(TrainingArguments))))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def collator(rows):
        return pad_right(rows, pad_id)

    trainer = trainer_class()(
        model=model, args=args, train_dataset=data, eval_dataset=val, data_collator=collator, callbacks=callbacks
    )
    trainer.step_plan, trainer.token_sampler = step_plan, sampler
    return trainer
