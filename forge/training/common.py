"""What every training method shares: where a trained model goes, what a run returns, the run's config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from forge.config import load as config_io
from forge.config.fields import ForgeConfig
from forge.errors import ForgeError
from forge.project.project import Project


@dataclass
class TrainResult:
    output_dir: Path
    backend: str
    device: str
    method: str
    epochs_run: int
    epoch_losses: list[float]
    final_loss: float
    wall_s: float
    tokens_per_s: float
    examples: int
    val_losses: list[float] = dataclasses.field(default_factory=list)
    warm_start: dict | None = None  # forge.training.warm_start.WarmStart.record; None: a fresh adapter
    grpo: dict | None = None        # a GRPO run's record (forge.reinforcement.grpo); None: supervised


def effective_config(project: Project, overrides: dict | None, epochs: int | None) -> ForgeConfig:
    """The config for this run only: forge.yaml plus temporary overrides (validated the same way)."""
    raw = config_io.read_raw(project.config_path)
    patch = dict(overrides or {})
    if epochs is not None:
        patch["training"] = {**patch.get("training", {}), "epochs_min": epochs, "epochs_max": epochs}
    return config_io.validate(config_io.merge(raw, patch), "training overrides") if patch else project.config


class TrainingStopped(ForgeError):
    """Training ran into the time budget; nothing was written."""
