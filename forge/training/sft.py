"""`forge train`: supervised fine-tuning on the training set, LoRA or full, Unsloth or transformers.

Epochs: at least training.epochs_min; then, up to epochs_max, only while the mean training loss
of the last epoch (the validation loss, with training.val_fraction) improved on the one before by
more than training.loss_tolerance (relative) (forge.training.callbacks, which also shows progress
and enforces the time budget). A checkpoint after every epoch lets `resume` finish a run a crash
cut off (forge.training.checkpoints); the trainer itself is built in forge.training.trainer.
The learning-rate schedule spans epochs_max, so an early stop ends it part-way. With a
`deadline` (the run's time budget), training checks the clock after every optimizer step; past
it, training stops, the partial adapter is discarded and output/adapter stays as it was. With
training.warm_start `best`, the run continues the best adapter on what was added since it was
trained plus a replay sample (forge.training.warm_start); meta and experiment rows say which.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from forge import stop_signal
from forge.atomic import disk_full
from forge.config.fields import ForgeConfig
from forge.data import val_split
from forge.data.datasets import example_id, file_hash, load_numbered
from forge.errors import ForgeError
from forge.hashing import content_hash
from forge.models.chat_format import tokenize_for_training, with_system_prompt
from forge.models.loading import Runtime, cpu_has_bf16, resolve_base, resolve_runtime, training_precision
from forge.models.memory import Budget, free_memory, out_of_memory, plan_step
from forge.project.project import ADAPTER_DIR, Project
from forge.project.records import next_iteration
from forge.project.run_lock import holds_run_lock
from forge.remote.mark import remote_step
from forge.training import checkpoints, distributed
from forge.training.model_io import load_for_training, save_swapped
from forge.training.train_run import TrainingStopped, TrainResult, effective_config, model_meta, trained_pulls
from forge.training.trainer import build_trainer, tracker_callbacks
from forge.training.warm_start import WarmStart, example_key, plan_warm_start, write_seen


@dataclass
class TrainPlan:
    """What setup decided: the config of this run, the data, the machine, and where a resume starts."""

    cfg: ForgeConfig
    runtime: Runtime
    precision: str
    base_path: str
    examples: list[dict]
    train_examples: list[dict]
    val_examples: list[dict]
    run_record: dict
    checkpoint: Path | None
    saved: dict
    world: int
    main: bool
    report: str  # the one-line backend report; the memory plan is added once the model is loaded
    warm: WarmStart | None = None


def _setup(project: Project, epochs, overrides, echo, resume) -> TrainPlan | None:
    """Check the data and the gold guard, resolve the machine and precision, split off validation and find the
    resume point. None when the run belongs to forge.training.distributed's processes instead."""
    cfg = effective_config(project, overrides, epochs)
    gold_guard = project.gold_guard()
    canonical = project.path(cfg.dataset.canonical)
    gold_guard.check_training_path(canonical, cfg.dataset.canonical)
    numbered = load_numbered(canonical, cfg.dataset.canonical, missing_ok=True)
    gold_guard.check_training_set(numbered, cfg.dataset.canonical)  # gold added after the data was written
    examples = [e for _, e in numbered]
    if not examples:
        raise ForgeError(f"{cfg.dataset.canonical}: no training examples yet (add some, or `forge generate`)")
    runtime = resolve_runtime(cfg.compute.device, cfg.model.load_in_4bit)
    processes = cfg.compute.num_processes
    if processes > 1 and not distributed.in_worker():
        if runtime.backend == "unsloth":
            echo(f"note: compute.num_processes {processes}: Unsloth trains in one process; training in one")
        else:
            return None
    world, main = distributed.world_size(), distributed.is_main()
    runtime = dataclasses.replace(runtime, device=distributed.worker_device(runtime.device))
    for note in runtime.notes:
        echo(f"warning: {note}")
    precision = training_precision(cfg.training.precision, runtime.device, cfg.training.method)
    if cfg.training.precision == "bf16" and runtime.device == "cpu" and not cpu_has_bf16():
        echo(
            "warning: training.precision bf16: this CPU has no native bf16 (avx512_bf16/amx_bf16); "
            "expect it slower than fp32"
        )
    t = cfg.training
    train_examples, val_examples = val_split.split(examples, t.val_fraction)
    cfg_hash = content_hash(json.dumps(dataclasses.asdict(cfg), sort_keys=True))
    warm = plan_warm_start(project, cfg, train_examples, echo)
    if warm:
        train_examples = warm.new + warm.replay
        val_examples = _val_sample(val_examples, len(train_examples), t.val_fraction)
        cfg = dataclasses.replace(cfg, training=dataclasses.replace(t, learning_rate=t.learning_rate * t.warm_lr_scale))
    held = f", {len(val_examples)} held out for validation" if val_examples else ""
    procs = f", {world} processes" if world > 1 else ""
    start = (
        f": warm from {project.rel(warm.source)}, {len(warm.new)} new + {len(warm.replay)} replayed of {len(examples)}"
        if warm
        else ""
    )
    report = (
        f"backend: {runtime.backend} on {runtime.device} ({t.method}, {precision}, {len(train_examples)} "
        f"examples{start}{held}{procs})"
    )
    run_record = {
        "config_hash": cfg_hash,
        "dataset_hash": file_hash(canonical),
        "overrides": overrides or {},
        "warm_start": warm.record(project) if warm else None,
    }
    checkpoint, saved = checkpoints.resume_point(project, run_record) if resume else (None, {})
    return TrainPlan(
        cfg,
        runtime,
        precision,
        resolve_base(cfg.model.base, project.root),
        examples,
        train_examples,
        val_examples,
        run_record,
        checkpoint,
        saved,
        world,
        main,
        report,
        warm,
    )


def _val_sample(val_examples: list[dict], trained: int, fraction: float) -> list[dict]:
    """A warm start's validation set: as large against its `trained` examples as val_fraction makes a fresh run's
    (the first by id, so the same ones each time), so validating costs what training does, not the whole set."""
    n = math.ceil(trained * fraction / (1 - fraction))  # training.val_fraction is at most 0.5
    return sorted(val_examples, key=example_id)[:n]


def _load(project: Project, plan: TrainPlan, echo):
    """(model, tokenizer, training rows, validation rows, memory plan): the model from forge.training.model_io, the
    examples rendered with the task's system prompt and chat template, the loss on the answers only, and what one
    micro-batch may hold (forge.models.memory; None on Unsloth, which manages its own)."""
    from transformers import set_seed

    cfg = plan.cfg
    set_seed(cfg.training.seed)
    free_memory()  # what an earlier step of this process left (an eval's model) is not held twice
    model, tokenizer = load_for_training(
        cfg, plan.runtime, plan.base_path, plan.precision, warm_from=plan.warm.source if plan.warm else None
    )
    prompt = project.system_prompt()
    last_only = cfg.training.learn_turns == "last"
    rows, val_rows = (
        [
            tokenize_for_training(
                tokenizer, with_system_prompt(e, prompt), cfg.model.max_seq_len, e.get("tools"), last_only
            )
            for e in part
        ]
        for part in (plan.train_examples, plan.val_examples)
    )
    if all(all(label == -100 for label in r["labels"]) for r in rows):
        raise ForgeError(
            f"{cfg.dataset.canonical}: no assistant tokens left after truncation to "
            f"model.max_seq_len={cfg.model.max_seq_len}"
        )
    # Training needs no KV cache; building one each step only costs memory.
    model.config.use_cache = False
    step_plan = None
    if plan.runtime.backend == "unsloth":
        ignored = [k for k in ("tokens_per_batch", "max_memory_gb") if getattr(cfg.training, k) is not None]
        if ignored:
            echo(
                f"warning: training.{' and training.'.join(ignored)}: ignored on Unsloth, which batches by "
                "training.batch_size and manages its own memory (gradient checkpointing)"
            )
    else:
        budget = Budget.for_device(cfg.training.max_memory_gb, plan.runtime.device, processes=plan.world)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        longest = max(len(r["input_ids"]) for r in rows + val_rows)
        step_plan = plan_step(model, budget, trainable, longest, plan.precision == "bf16")
    echo(f"{plan.report}; {step_plan.line()}" if step_plan else plan.report)
    return model, tokenizer, rows, val_rows, step_plan


def _fit(project: Project, plan: TrainPlan, model, tokenizer, rows, val_rows, step_plan, echo, deadline):
    """Train (resuming from the plan's checkpoint): (trainer, the epoch record, tokens per epoch, epochs done
    before, wall seconds). Past the deadline the partial adapter is discarded (TrainingStopped)."""
    from forge.training.callbacks import Deadline, EpochLosses, MemoryGuard, Progress, quiet

    cfg, checkpoint = plan.cfg, plan.checkpoint
    epochs = EpochLosses(cfg.training.epochs_min, cfg.training.loss_tolerance, watch_val=bool(val_rows))
    epochs.restore(plan.saved)
    done_before = len(epochs.losses)
    if checkpoint:
        echo(f"resuming from {checkpoint.name} (after epoch {done_before})")
    # In a data-parallel run only rank 0 writes (it clears the trainer directory long before any checkpoint).
    fresh = plan.main and not checkpoint
    work = checkpoints.start_fresh(project, plan.run_record) if fresh else project.trainer_dir
    # always watched: a stop signal ends training at a step boundary too (forge.stop_signal)
    deadline_cb = [Deadline(deadline if deadline is not None else float("inf"))]
    tokens_per_epoch = sum(len(r["input_ids"]) for r in rows)
    progress = Progress(epochs, tokens_per_epoch, echo)
    trackers = (
        tracker_callbacks(cfg, project.tracker_dir / str(next_iteration(project)), fresh=checkpoint is None)
        if plan.main
        else []
    )
    guard = [MemoryGuard(step_plan.budget)] if step_plan is not None else []
    trainer = build_trainer(
        plan.runtime,
        cfg,
        model,
        tokenizer,
        rows,
        val_rows,
        work,
        [epochs, progress, *deadline_cb, *guard, *trackers],
        plan.precision,
        step_plan,
    )
    quiet(trainer)
    start = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except OSError as exc:  # a full disk while writing a checkpoint: drop the partial one, say so in one line
        full = disk_full(work, exc)
        if full is None:
            raise
        checkpoints.drop_partial(work)
        raise full from None
    except out_of_memory() as exc:  # the GPU's allocator said no (on CPU MemoryGuard stops first)
        raise ForgeError(
            f"training ran out of memory ({step_plan.line() if step_plan else plan.report}): lower "
            f"training.max_memory_gb, training.batch_size or model.max_seq_len"
        ) from exc
    if guard and guard[0].over:
        if plan.main:
            checkpoints.finish(project)
        raise ForgeError(f"{guard[0].over}; output/{ADAPTER_DIR} is the previous one")
    wall = time.perf_counter() - start
    if deadline_cb and deadline_cb[0].hit:
        if plan.main:
            checkpoints.finish(project)
        why = stop_signal.reason() if stop_signal.requested.is_set() else "the time budget ran out"
        raise TrainingStopped(
            f"{why} after {trainer.state.global_step} steps "
            f"({len(epochs.losses)} full epochs); the partial adapter was discarded and output/"
            f"{ADAPTER_DIR} is the previous one"
        )
    return trainer, epochs, tokens_per_epoch, done_before, wall


def _save(
    project: Project, plan: TrainPlan, trainer, tokenizer, epochs, tokens_per_epoch, done_before, wall
) -> TrainResult:
    """Write output/adapter with its meta (rank 0 only), swapped in whole, and say what was trained."""
    cfg, runtime, t = plan.cfg, plan.runtime, plan.cfg.training
    losses = epochs.losses
    tokens = tokens_per_epoch * (len(losses) - done_before)
    meta = model_meta(
        cfg,
        runtime,
        plan.precision,
        plan.base_path,
        plan.run_record,
        len(plan.examples),
        wall,
        t.method,
        t.learning_rate,
        epochs_run=len(losses),
        epoch_losses=losses,
        final_loss=losses[-1] if losses else None,
        val_size=len(plan.val_examples),
        val_losses=epochs.val_losses,
        final_val_loss=epochs.val_losses[-1] if epochs.val_losses else None,
        tokens_per_s=round(tokens / wall, 1) if wall else None,
        overrides=plan.run_record["overrides"],
        world_size=plan.world,
        effective_batch=t.batch_size * t.gradient_accumulation_steps * plan.world,
        tokens_per_batch=t.tokens_per_batch,
    )
    seen = plan.warm.seen if plan.warm else {example_key(e) for e in plan.train_examples}
    trainer.model.config.use_cache = True
    out = project.adapter_dir
    if plan.main:

        def save(tmp: Path) -> None:
            trainer.model.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
            write_seen(tmp, seen)

        save_swapped(out, meta, save)
        checkpoints.finish(project)
    return TrainResult(
        out,
        runtime.backend,
        runtime.device,
        t.method,
        len(losses),
        losses,
        meta["final_loss"],
        round(wall, 3),
        meta["tokens_per_s"] or 0.0,
        len(plan.train_examples),
        epochs.val_losses,
        plan.run_record["warm_start"],
    )


@holds_run_lock("train", skip=distributed.in_worker)
@remote_step(trained_pulls)
def train(
    project: Project,
    *,
    epochs: int | None = None,
    overrides: dict | None = None,
    echo=print,
    deadline: float | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train into output/adapter: setup -> load -> fit -> save. With `resume`, continue the interrupted run from
    its last epoch checkpoint (same config, data and overrides, or a one-line refusal). training.method grpo is
    forge.training.grpo's (forge.training.entry.train takes runs of every method)."""
    if effective_config(project, overrides, epochs).training.method == "grpo":
        raise ForgeError(
            "training.method grpo: start it with `forge train` or the train tool (forge.training.entry.train)"
        )
    plan = _setup(project, epochs, overrides, echo, resume)
    if plan is None:  # compute.num_processes > 1: the same function, in n processes
        runtime = resolve_runtime(project.config.compute.device, project.config.model.load_in_4bit)
        return distributed.launch(
            project,
            project.config.compute.num_processes,
            runtime.device,
            {"epochs": epochs, "overrides": overrides, "resume": resume},
            echo,
            deadline,
        )
    model, tokenizer, rows, val_rows, step_plan = _load(project, plan, echo)
    trainer = None
    try:
        trainer, epoch_record, tokens_per_epoch, done_before, wall = _fit(
            project, plan, model, tokenizer, rows, val_rows, step_plan, echo, deadline
        )
        result = _save(project, plan, trainer, tokenizer, epoch_record, tokens_per_epoch, done_before, wall)
    finally:
        model = trainer = None  # the next step of this process (an eval, the next iteration) loads its own
        free_memory()
    return result
