"""Warm starts: iteration k+1 continues from the best adapter instead of training a fresh one on everything.

With training.warm_start `best`, training starts from the promoted best (output/best_score.json's path) and
trains on the examples added since that adapter was trained, plus a replay sample of the older ones
(training.replay_ratio per new example, at most training.replay_max), at learning_rate x warm_lr_scale
on the run's own schedule (a fresh optimizer: the old one's moments belong to another data mix). An
iteration's cost then follows what was added, not the size of the training set. Every trained model
keeps the keys of the examples it has seen (SEEN_FILE, beside its weights): every training example
of its run, since a warm start's older ones were seen by its source, so "new" stays exact along a
chain of warm starts.

A fresh start happens instead, with a note saying why, when there is no best, when the best was
trained on another base, method or LoRA shape, when nothing was added since it was trained, or
when the replay would take every older example anyway (the warm start would save nothing).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from forge.hashing import content_hash
from forge.project.records import best, read_meta

SEEN_FILE = "examples_seen.txt"  # beside a trained model: one example key per line


def example_key(example: dict) -> str:
    """An example's identity for "seen before": the whole example (a corrected answer is a new example)."""
    return content_hash(json.dumps(example, sort_keys=True, ensure_ascii=False), 16)


def seen_keys(model_dir: Path) -> set[str] | None:
    """The keys of the examples a trained model has seen; None for a model trained before forge kept them."""
    path = Path(model_dir) / SEEN_FILE
    return set(path.read_text(encoding="utf-8").split()) if path.is_file() else None


def write_seen(model_dir: Path, keys: set[str]) -> None:
    (Path(model_dir) / SEEN_FILE).write_text("".join(k + "\n" for k in sorted(keys)), encoding="utf-8")


@dataclass
class WarmStart:
    """Where a warm start continues from and what it trains on."""

    source: Path  # the best model directory it continues from
    source_iteration: int | None
    new: list[dict]  # examples the source never saw
    replay: list[dict]  # a sample of the ones it did
    seen: set[str]  # the keys the trained model will have seen

    def record(self, project) -> dict:
        """What the run's meta and its experiment row say about the start."""
        return {
            "from": project.rel(self.source),
            "from_iteration": self.source_iteration,
            "new": len(self.new),
            "replayed": len(self.replay),
        }


def policy_kind(meta: dict) -> str | None:
    """What a trained model is: a LoRA adapter or a full model (a GRPO run's is its start's, forge.training.grpo)."""
    method = meta.get("method")
    return (meta.get("grpo") or {}).get("policy", "lora") if method == "grpo" else method


def incompatible(project, cfg, source: Path) -> str | None:
    """Why the model in `source` cannot be continued under `cfg` (None: it can). A GRPO run's model continues as
    what it is (a LoRA adapter or a full model), and GRPO continues either."""
    meta = read_meta(source)
    if meta.get("base") != cfg.model.base:
        return f"it was trained on another base ({meta.get('base')})"
    kind = policy_kind(meta)
    if cfg.training.method != "grpo" and kind != cfg.training.method:
        return f"it was trained with training.method {meta.get('method')}"
    if kind == "lora":
        adapter = json.loads((source / "adapter_config.json").read_text())
        shape = (adapter.get("r"), adapter.get("lora_alpha"), sorted(adapter.get("target_modules") or []))
        wanted = (cfg.lora.r, cfg.lora.alpha, sorted(cfg.lora.target_modules))
        if shape != wanted:
            return f"its LoRA shape (r, alpha, modules) {shape} is not lora.* {wanted}"
    return None


def plan_warm_start(project, cfg, train_examples: list[dict], echo) -> WarmStart | None:
    """The warm start training.warm_start asks for, or None (a fresh start; `echo` says why when one was asked)."""
    if cfg.training.warm_start != "best":
        return None
    top = best(project)
    source = project.path(top["path"]) if top and top.get("path") else None
    if source is None or not source.is_dir():
        return None  # the first iteration: nothing to continue from, nothing to say
    why = incompatible(project, cfg, source)
    seen = seen_keys(source)
    if why is None and seen is None:
        why = "it was trained before forge recorded the examples a model has seen"
    keys = [example_key(e) for e in train_examples]
    new = [e for e, k in zip(train_examples, keys, strict=True) if seen is not None and k not in seen]
    if why is None and not new:
        why = "no example was added since it was trained"
    if why:
        echo(f"warm start: training a fresh adapter instead of continuing {project.rel(source)}: {why}")
        return None
    old = [e for e, k in zip(train_examples, keys, strict=True) if k in (seen or set())]
    t = cfg.training
    n = min(len(old), t.replay_max, math.ceil(t.replay_ratio * len(new)))
    if n == len(old):
        # it would train on the whole set anyway: a warm start saves nothing, and a fresh adapter at the full
        # learning rate learned more (docs/benchmarks.md)
        echo(
            f"warm start: training a fresh adapter instead of continuing {project.rel(source)}: every older "
            f"example would be replayed ({len(new)} new, {len(old)} older), so it costs the same"
        )
        return None
    # seeded by the seed and the data, so a resumed or distributed run replays the same sample
    rng = random.Random(f"{t.seed}:{len(train_examples)}:{keys[0] if keys else ''}")
    replay = rng.sample(old, n)
    return WarmStart(source, top.get("iteration") if top else None, new, replay, set(keys))


def load_source_weights(model, source: Path) -> None:
    """Copy a saved LoRA adapter's weights into `model` (a fresh adapter of the same shape), on either backend."""
    from peft import set_peft_model_state_dict

    from forge.errors import ForgeError

    weights = source / "adapter_model.safetensors"
    if weights.is_file():
        from safetensors.torch import load_file

        state = load_file(str(weights))
    else:
        import torch

        state = torch.load(str(source / "adapter_model.bin"), map_location="cpu", weights_only=True)
    result = set_peft_model_state_dict(model, state)
    missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
    unexpected = list(getattr(result, "unexpected_keys", []))
    if unexpected or missing:
        raise ForgeError(
            f"{source}: its adapter weights do not fit this model "
            f"({len(missing)} missing, {len(unexpected)} unexpected); "
            "train fresh with training.warm_start: none"
        )
