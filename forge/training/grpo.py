"""`training.method: grpo`: reinforcement learning from the project's own scorer (TRL's GRPOTrainer).

The prompts are the training set's user turns, rendered as eval renders them (system prompt, chat
template), after the same gold-guard checks SFT makes: no gold or sealed input can enter a run. For each
prompt the policy samples grpo.generations answers; the reward of each is the project's scorer on it
against the example's expected answer (`Scorer.reward`: 1 right, partial credit per field with the call
scorer, 0 outside the output schema), so a change of scorer is a change of reward. Answers are sampled
free and the schema is enforced through the reward. GRPO starts from the promoted best model, a LoRA adapter
(continued as one) or a full model (trained whole); grpo.from_base: a fresh adapter on model.base. Its KL term (grpo.beta) pulls toward that starting policy: TRL keeps a
frozen copy of it (peft's "ref" adapter, or the full model loaded again) as the reference. Budgets and the deadline are
checked at every step; a checkpoint every grpo.checkpoint_steps lets `forge train --resume` finish a run
a kill -9 cut off. The live bar shows mean reward and the schema-valid rate; TensorBoard gets TRL's
scalars (reward, KL, completion length). The result in output/adapter is evaluated and promoted as any other.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from forge.config.fields import ForgeConfig
from forge.data.datasets import assistant_text, file_hash, load_numbered
from forge.data.output_schema import OutputSchema, schema_for
from forge.errors import ForgeError
from forge.evaluation.runner import eval_prompts
from forge.evaluation.scorers import Scorer
from forge.hashing import content_hash
from forge.models.loading import Runtime
from forge.project.project import Project
from forge.project.records import best, read_meta
from forge.training import checkpoints
from forge.training.callbacks import Deadline, quiet
from forge.training.train_run import TrainingStopped, TrainResult, model_meta
from forge.training.warm_start import SEEN_FILE, incompatible, policy_kind


def start_adapter(project: Project, cfg: ForgeConfig) -> tuple[Path | None, int | None]:
    """(the model GRPO continues, its iteration): the promoted best, a LoRA adapter of lora.*'s shape or a full
    model, on model.base; (None, None) with grpo.from_base."""
    if cfg.grpo.from_base:
        return None, None
    top = best(project)
    source = project.path(top["path"]) if top and top.get("path") else None
    if source is None or not source.is_dir():
        raise ForgeError(
            "training.method grpo starts from the promoted best model and there is none yet: "
            "train and promote one with SFT first (or set grpo.from_base: true)"
        )
    why = incompatible(project, cfg, source)
    if why:
        raise ForgeError(f"training.method grpo cannot continue {project.rel(source)}: {why}")
    return source, (top or {}).get("iteration")


def prompts_and_answers(project: Project, tokenizer, examples: list[dict]) -> list[dict]:
    """The GRPO dataset: each training example's prompt as the model sees it in eval, and its expected answer."""
    return [
        {"prompt": prompt, "expected": assistant_text(e), "example": i}
        for i, (e, prompt) in enumerate(zip(examples, eval_prompts(project, tokenizer, examples), strict=True))
    ]


class Reward:
    """The project's scorer as GRPO's reward function; also counts schema-valid answers for the progress bar."""

    __name__ = "scorer"  # TRL names the reward's metrics after it

    def __init__(self, scorer: Scorer, examples: list[dict], schema: OutputSchema | None):
        self.scorer, self.schemas = scorer, [schema_for(e, schema, scorer.tool_choice) for e in examples]
        self.valid_rate: float | None = None

    def __call__(self, prompts, completions, expected, example, log_metric=None, **_kw) -> list[float]:
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        rewards = [
            self.scorer.reward(want, got.strip(), self.schemas[i])
            for want, got, i in zip(expected, texts, example, strict=True)
        ]
        judged = [s.keeps(t.strip()) for t, i in zip(texts, example, strict=True) if (s := self.schemas[i])]
        if judged:
            self.valid_rate = sum(judged) / len(judged)
            if log_metric:
                log_metric("schema_valid", self.valid_rate)
        return rewards


def run_record(project: Project, cfg: ForgeConfig, source: Path | None) -> dict:
    """What a resume must find unchanged (forge.training.checkpoints)."""
    return {
        "config_hash": content_hash(json.dumps(dataclasses.asdict(cfg), sort_keys=True)),
        "dataset_hash": file_hash(project.canonical_path),
        "overrides": {},
        "warm_start": project.rel(source) if source else None,
        "method": "grpo",
    }


def grpo_args(cfg: ForgeConfig, runtime, precision: str, work: Path):
    from trl import GRPOConfig

    g = cfg.grpo
    cpu = runtime.device == "cpu"
    return GRPOConfig(
        output_dir=str(work),
        max_steps=g.steps,
        learning_rate=g.learning_rate,
        beta=g.beta,
        num_generations=g.generations,
        per_device_train_batch_size=g.prompts_per_step * g.generations,
        gradient_accumulation_steps=1,
        temperature=g.temperature,
        max_completion_length=g.max_completion_tokens,
        lr_scheduler_type="constant",
        warmup_steps=0,
        logging_steps=1,
        save_strategy="steps",
        save_steps=g.checkpoint_steps,
        save_total_limit=2,
        report_to="none",
        seed=cfg.training.seed,
        use_cpu=cpu,
        bf16=precision == "bf16",
        activation_checkpointing=False,
        log_completions=False,
        disable_tqdm=True,
        shuffle_dataset=True,
        remove_unused_columns=False,
    )


def kind_of(cfg: ForgeConfig, source: Path | None) -> str:
    """lora or full: what GRPO trains, the start's kind (from model.base: a LoRA adapter)."""
    return (policy_kind(read_meta(source)) or "lora") if source is not None else "lora"


def load_policy(cfg: ForgeConfig, runtime, base_path: str, precision: str, source: Path | None, kind: str):
    """(model, tokenizer) continuing `source`: a LoRA adapter (trainable, "default"; with a KL term TRL adds a
    frozen copy of it as the "ref" adapter and takes that as the reference), or a full model (TRL loads the
    reference from the same directory)."""
    from forge.training.model_io import load_for_training

    as_kind = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, method=kind))  # type: ignore[arg-type]
    model, tokenizer = load_for_training(as_kind, runtime, base_path, precision, method=kind, warm_from=source)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


@dataclass
class GrpoPlan:
    """What setup decided for a GRPO run: its config, prompts and machine, the model it continues, where a resume
    starts."""

    cfg: ForgeConfig
    runtime: Runtime
    precision: str
    base_path: str
    examples: list[dict]
    source: Path | None  # the model continued (None: a fresh adapter on model.base)
    source_iteration: int | None
    kind: str  # lora or full: what is trained
    record: dict  # what a resume must find unchanged
    checkpoint: Path | None


def _setup(project: Project, cfg: ForgeConfig, echo, resume: bool) -> GrpoPlan:
    """Check the prompts against the gold guard and the scorer, resolve the machine, the start and the resume
    point."""
    from forge.models.loading import resolve_base, resolve_runtime, training_precision

    guard = project.gold_guard()
    guard.check_training_path(project.canonical_path, cfg.dataset.canonical)
    numbered = load_numbered(project.canonical_path, cfg.dataset.canonical, missing_ok=True)
    guard.check_training_set(numbered, cfg.dataset.canonical)  # no gold or sealed prompt enters a GRPO run
    examples = [e for _, e in numbered]
    if not examples:
        raise ForgeError(f"{cfg.dataset.canonical}: no training examples for GRPO's prompts")
    if cfg.eval.scorer == "judge":
        raise ForgeError(
            "training.method grpo: eval.scorer judge would pay a judge call per sampled answer; "
            "GRPO needs a programmatic scorer (call, json_match, json_cmd, exact, custom)"
        )
    if cfg.compute.num_processes > 1:
        echo("note: compute.num_processes: GRPO trains in one process")
    runtime = resolve_runtime(cfg.compute.device, cfg.model.load_in_4bit)
    source, source_iteration = start_adapter(project, cfg)
    kind = kind_of(cfg, source)
    record = run_record(project, cfg, source)
    checkpoint = checkpoints.resume_point(project, record)[0] if resume else None
    return GrpoPlan(
        cfg,
        runtime,
        training_precision(cfg.training.precision, runtime.device, kind),
        resolve_base(cfg.model.base, project.root),
        examples,
        source,
        source_iteration,
        kind,
        record,
        checkpoint,
    )


def fit(project: Project, plan: GrpoPlan, model, tokenizer, callbacks: list, echo, deadline: float | None):
    """Run GRPO (from the plan's checkpoint when resuming): (trainer, reward, deadline callback, wall seconds)."""
    from datasets import Dataset
    from trl import GRPOTrainer

    schema = OutputSchema.for_project(project)
    reward = Reward(Scorer.for_project(project, schema), plan.examples, schema)
    checkpoint = plan.checkpoint
    work = project.trainer_dir if checkpoint else checkpoints.start_fresh(project, plan.record)
    data = Dataset.from_list(prompts_and_answers(project, tokenizer, plan.examples))
    stop = Deadline(deadline if deadline is not None else float("inf"))
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],  # type: ignore[list-item]
        args=grpo_args(plan.cfg, plan.runtime, plan.precision, work),
        train_dataset=data,
        processing_class=tokenizer,
        callbacks=[stop, *callbacks],
    )
    quiet(trainer)
    if checkpoint:
        done = json.loads((checkpoint / "trainer_state.json").read_text()).get("global_step", 0)
        echo(f"resuming GRPO from {checkpoint.name} (after step {done})")
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    return trainer, reward, stop, time.perf_counter() - start


def save_adapter(model, tokenizer, source: Path | None, tmp: Path, kind: str) -> None:
    """The trained adapter alone (not the frozen reference), or the full model, with the examples its start had
    seen."""
    if kind == "lora":
        model.save_pretrained(str(tmp), selected_adapters=["default"])
    else:
        model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    if source is not None and (source / SEEN_FILE).is_file():
        shutil.copy2(source / SEEN_FILE, tmp / SEEN_FILE)  # GRPO adds no example: a later warm start's "new" stays
    nested = tmp / "default"  # peft writes a named adapter in a subfolder only when it is not "default"
    if nested.is_dir() and not (tmp / "adapter_config.json").exists():
        for f in nested.iterdir():
            f.rename(tmp / f.name)
        nested.rmdir()


def meta_of(project: Project, plan: GrpoPlan, history: list[dict], wall: float) -> dict:
    """forge_meta.json of the GRPO run (forge.training.train_run.model_meta), its own record under "grpo"."""
    cfg = plan.cfg
    rewards = [h["reward"] for h in history if "reward" in h]
    grpo = {
        "from": project.rel(plan.source) if plan.source else None,
        "from_iteration": plan.source_iteration,
        "policy": plan.kind,
        "steps": max((h.get("step", 0) for h in history), default=0),
        **vars(cfg.grpo),
        "reward_first": round(rewards[0], 4) if rewards else None,
        "reward_last": round(sum(rewards[-5:]) / len(rewards[-5:]), 4) if rewards else None,
        "schema_valid_last": next(
            (round(h["schema_valid"], 4) for h in reversed(history) if "schema_valid" in h), None
        ),
    }
    return model_meta(
        cfg,
        plan.runtime,
        plan.precision,
        plan.base_path,
        {**plan.record, "warm_start": None},
        len(plan.examples),
        wall,
        "grpo",
        cfg.grpo.learning_rate,
        epochs_run=0,
        epoch_losses=[],
        final_loss=None,
        grpo=grpo,
    )


def train_grpo(project: Project, cfg: ForgeConfig, echo=print, deadline: float | None = None, resume: bool = False):
    """GRPO into output/adapter: setup -> load -> fit -> save (forge.training.entry.train hands runs here)."""
    from forge.project.project import ADAPTER_DIR
    from forge.project.records import next_iteration
    from forge.training.callbacks import GrpoProgress
    from forge.training.model_io import save_swapped
    from forge.training.trainer import tracker_callbacks

    plan = _setup(project, cfg, echo, resume)
    g, source = cfg.grpo, plan.source
    echo(
        f"backend: {plan.runtime.backend} on {plan.runtime.device} (grpo, {plan.kind}, {plan.precision}, "
        f"{len(plan.examples)} prompts, {g.steps} steps x {g.prompts_per_step} prompts x {g.generations} answers; "
        f"from {project.rel(source) if source else 'a fresh adapter on ' + cfg.model.base})"
    )
    model, tokenizer = load_policy(cfg, plan.runtime, plan.base_path, plan.precision, source, plan.kind)
    progress = GrpoProgress(echo, every=g.checkpoint_steps)
    trackers = tracker_callbacks(cfg, project.tracker_dir / str(next_iteration(project)), fresh=plan.checkpoint is None)
    trainer, _reward, stop, wall = fit(project, plan, model, tokenizer, [progress, *trackers], echo, deadline)
    if stop.hit:
        from forge import stop_signal

        checkpoints.finish(project)
        why = stop_signal.reason() if stop_signal.requested.is_set() else "the time budget ran out"
        raise TrainingStopped(
            f"{why} after {trainer.state.global_step} GRPO steps; the partial adapter was "
            f"discarded and output/{ADAPTER_DIR} is the previous one"
        )
    meta = meta_of(project, plan, progress.history, wall)
    model.config.use_cache = True
    out = save_swapped(project.adapter_dir, meta, lambda tmp: save_adapter(model, tokenizer, source, tmp, plan.kind))
    checkpoints.finish(project)
    return TrainResult(
        out,
        plan.runtime.backend,
        plan.runtime.device,
        "grpo",
        0,
        [],
        None,
        round(wall, 3),
        0.0,
        len(plan.examples),
        grpo=meta["grpo"],
    )
