"""The forge.yaml keys the planner may change, with the bounds it must stay within.

Used by `train` (overrides for one run) and `patch_config` (permanent). Everything else —
dataset paths, eval.target_accuracy, eval.scorer, budgets, hub, compute, llm — is out of
reach: the schemas are closed, so such a key is refused before anything runs.
"""

from __future__ import annotations

from forge.config.schema import field_choices
from forge.tools.tool import obj

NUM = "number"
# training.method as forge.yaml names it; for one run (train's overrides) any method, GRPO included, while
# patch_config keeps the supervised ones: a permanent GRPO would make every later run a GRPO run
METHODS = field_choices("training.method")
SUPERVISED = [m for m in METHODS if m != "grpo"]
TRAINING = {
    "method": {"type": "string", "enum": SUPERVISED},
    "epochs_min": {"type": "integer", "minimum": 1, "maximum": 20},
    "epochs_max": {"type": "integer", "minimum": 1, "maximum": 20},
    "loss_tolerance": {"type": NUM, "minimum": 0, "maximum": 0.5},
    "batch_size": {"type": "integer", "minimum": 1, "maximum": 256},
    "gradient_accumulation_steps": {"type": "integer", "minimum": 1, "maximum": 64},
    "learning_rate": {"type": NUM, "exclusiveMinimum": 0, "maximum": 0.05},
    "warmup_ratio": {"type": NUM, "minimum": 0, "maximum": 0.5},
    "weight_decay": {"type": NUM, "minimum": 0, "maximum": 0.5},
    "lr_scheduler": {"type": "string", "enum": ["cosine", "linear", "constant"]},
    "seed": {"type": "integer", "minimum": 0, "maximum": 1000000},
    "precision": {"type": "string", "enum": ["fp32", "bf16"]},
    "warm_start": {"type": "string", "enum": ["best", "none"]},
    "replay_ratio": {"type": NUM, "minimum": 0, "maximum": 20},
    "replay_max": {"type": "integer", "minimum": 0, "maximum": 100000},
    "warm_lr_scale": {"type": NUM, "exclusiveMinimum": 0, "maximum": 1},
}
LORA = {
    "r": {"type": "integer", "minimum": 1, "maximum": 256},
    "alpha": {"type": "integer", "minimum": 1, "maximum": 512},
    "dropout": {"type": NUM, "minimum": 0, "maximum": 0.5},
    "target_modules": {
        "type": "array",
        "minItems": 1,
        "maxItems": 16,
        "items": {"type": "string", "minLength": 1, "maxLength": 64},
    },
}
# GRPO's knobs the planner may set for one run (forge.training.grpo), in ranges that fit a 100M-4B model on a budget
GRPO = {
    "steps": {"type": "integer", "minimum": 10, "maximum": 400},
    "generations": {"type": "integer", "minimum": 2, "maximum": 16},
    "learning_rate": {"type": NUM, "exclusiveMinimum": 0, "maximum": 0.0001},
    "beta": {"type": NUM, "minimum": 0, "maximum": 1},
    "temperature": {"type": NUM, "minimum": 0.3, "maximum": 1.5},
}
MODEL = {"max_seq_len": {"type": "integer", "minimum": 64, "maximum": 8192}}
EVAL = {
    "max_new_tokens": {"type": "integer", "minimum": 1, "maximum": 2048},
    "batch_size": {"type": "integer", "minimum": 1, "maximum": 256},
}


def training_overrides_schema() -> dict:
    return obj({"training": obj({**TRAINING, "method": {"type": "string", "enum": METHODS}}), "lora": obj(LORA)})


def patch_schema() -> dict:
    return obj({"training": obj(TRAINING), "lora": obj(LORA), "model": obj(MODEL), "eval": obj(EVAL)})
