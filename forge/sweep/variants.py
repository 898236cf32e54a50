"""A sweep's plan: which configurations, over which seeds, each an overlay on forge.yaml with a stable id.

`--set training.learning_rate=1e-4,2e-4 --set lora.r=16,32` gives a grid of 4 configurations (or `--random N` of
them, drawn with a fixed seed); `--seeds 3` runs each three times with training.seed 0, 1, 2 added to the
project's. Values are JSON or YAML scalars. Only the keys that shape a training run may vary (training, lora, grpo and
model's): every variant is evaluated on the same gold set, under the same schema and scorer.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass

import yaml

from forge.config import load as config_io
from forge.config.schema import field_docs
from forge.errors import ConfigError
from forge.hashing import content_hash

SWEEPABLE = ("training.", "lora.", "grpo.", "model.")
FIXED = {"training.seed", "training.warm_start"}  # seeds come from --seeds; every variant trains a fresh adapter
MAX_RUNS = 256


@dataclass(frozen=True)
class Variant:
    """One run of a sweep: a configuration (`overlay`, shared by its seeds) and a seed."""

    id: str
    config_id: str  # the same for every seed of one configuration
    overlay: dict  # nested, as a forge.yaml patch
    seed: int
    label: str  # e.g. "training.learning_rate=0.0001 lora.r=16"


def scalar(text: str):
    """A value as written on the command line: JSON first (PyYAML reads 1e-4 as a string), then YAML."""
    try:
        return json.loads(text)
    except ValueError:
        return yaml.safe_load(text)


def check_key(key: str) -> None:
    """ConfigError unless `key` is a forge.yaml key a sweep may vary."""
    known = {k for k, *_ in field_docs()}
    if key not in known:
        raise ConfigError(f"--set {key}: not a forge.yaml key (`forge config docs` lists them)")
    if key in FIXED or not key.startswith(SWEEPABLE):
        why = (
            "set by --seeds"
            if key == "training.seed"
            else "every variant trains a fresh adapter"
            if key == "training.warm_start"
            else "only training, lora, grpo and model keys vary: every variant is scored on the same gold set"
        )
        raise ConfigError(f"--set {key}: cannot be swept ({why})")


def parse_set(spec: str) -> tuple[str, list]:
    """`key=v1,v2` -> (key, [v1, v2]), or ConfigError naming the key."""
    key, sep, values = spec.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise ConfigError(f"--set {spec}: expected KEY=VALUE[,VALUE...], e.g. training.learning_rate=1e-4,2e-4")
    return key, [scalar(v.strip()) for v in values.split(",")]


def nested(flat: dict) -> dict:
    out: dict = {}
    for key, value in flat.items():
        section, leaf = key.split(".", 1)
        out.setdefault(section, {})[leaf] = value
    return out


def plan(
    project, axes: list[tuple[str, list]], seeds: int = 1, random_n: int | None = None, draw_seed: int = 0
) -> list[Variant]:
    """The variants of a sweep over `axes` ((key, values) each), configurations in grid order (or a random draw
    of `random_n`), seeds innermost. Each overlay is validated against forge.yaml now, so a bad value is one line
    before anything starts."""
    for key, values in axes:
        check_key(key)
        if len(set(map(json.dumps, values))) != len(values):
            raise ConfigError(f"--set {key}: a value is listed twice")
    if len({k for k, _ in axes}) != len(axes):
        raise ConfigError("--set: a key is given twice; list its values once, comma-separated")
    grid = [dict(zip([k for k, _ in axes], combo, strict=True)) for combo in itertools.product(*[v for _, v in axes])]
    if random_n is not None:
        if random_n < 1:
            raise ConfigError(f"--random {random_n}: must be at least 1")
        grid = random.Random(draw_seed).sample(grid, min(random_n, len(grid)))
    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: must be at least 1")
    if len(grid) * seeds > MAX_RUNS:
        raise ConfigError(f"{len(grid)} configurations x {seeds} seeds: more than {MAX_RUNS} runs in one sweep")
    raw = config_io.read_raw(project.config_path)
    base_seed = project.config.training.seed
    variants = []
    for flat in grid:
        overlay = nested(flat)
        label = " ".join(f"{k}={v}" for k, v in flat.items()) or "forge.yaml as it is"
        config_id = content_hash(json.dumps(overlay, sort_keys=True))[:8]
        for i in range(seeds):
            full = config_io.merge(overlay, {"training": {"seed": base_seed + i, "warm_start": "none"}})
            config_io.validate(config_io.merge(raw, full), f"--set {label}")
            variants.append(Variant(f"{config_id}-s{base_seed + i}", config_id, full, base_seed + i, label))
    return variants
