"""A training run as every method has it: its effective config, what it returns, the meta written with its
model, and what a remote run brings back."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from forge.clock import now
from forge.config import load as config_io
from forge.config.fields import ForgeConfig
from forge.errors import ForgeError
from forge.project.project import Project
from forge.remote.mark import Pull
from forge.result_lines import ResultLine


@dataclass
class TrainResult:
    output_dir: Path
    backend: str
    device: str
    method: str
    epochs_run: int
    epoch_losses: list[float]
    final_loss: float | None  # the last epoch's mean training loss (None: GRPO, which has rewards)
    wall_s: float
    tokens_per_s: float
    examples: int
    val_losses: list[float] = dataclasses.field(default_factory=list)
    warm_start: dict | None = None  # forge.training.warm_start.WarmStart.record; None: a fresh adapter
    grpo: dict | None = None  # a GRPO run's record (forge.training.grpo); None: supervised

    def lines(self) -> list[ResultLine]:
        """The result lines of `forge train` and the train tool: how it trained, then its losses (or rewards)."""
        if self.grpo:
            g = self.grpo
            lines = [
                ResultLine("grpo_from", g["from"], g["from"] or "a fresh adapter"),
                ResultLine("steps", g["steps"], str(g["steps"])),
                ResultLine(
                    "reward", [g["reward_first"], g["reward_last"]], f"{g['reward_first']} -> {g['reward_last']}"
                ),
            ]
            if g.get("schema_valid_last") is not None:
                lines.append(ResultLine("schema_valid", g["schema_valid_last"], f"{g['schema_valid_last']:.4f}"))
            return lines + [ResultLine("wall_s", round(self.wall_s, 1), f"{self.wall_s:.1f}")]
        w = self.warm_start
        start = f"warm from {w['from']}, {w['new']} new + {w['replayed']} replayed" if w else "a fresh adapter"
        losses = ", ".join(f"{x:.4f}" for x in self.epoch_losses)
        lines = [
            ResultLine(
                "trained",
                self.method,
                f"{self.method}, {start}, {self.examples} examples, {self.backend} on {self.device}",
            ),
            ResultLine("warm_start", w, None),
            ResultLine("epochs_run", self.epochs_run, str(self.epochs_run)),
            ResultLine("epoch_losses", [round(x, 6) for x in self.epoch_losses], losses or "none (resumed at its end)"),
        ]
        if self.final_loss is not None:
            lines.append(ResultLine("final_loss", round(self.final_loss, 6), f"{self.final_loss:.4f}"))
        if self.val_losses:
            shown = ", ".join(f"{x:.4f}" for x in self.val_losses)
            lines.append(ResultLine("val_losses", [round(x, 6) for x in self.val_losses], shown))
        return lines + [
            ResultLine("tokens_per_s", round(self.tokens_per_s), f"{self.tokens_per_s:.0f}"),
            ResultLine("wall_s", round(self.wall_s, 1), f"{self.wall_s:.1f}"),
        ]


def trained_pulls(project: Project, result: TrainResult) -> list[Pull]:
    """What a training run on compute.remote brings back: the trained model and its TensorBoard logs."""
    return [Pull(project.rel(result.output_dir), "dir"), Pull(project.rel(project.tracker_dir), "merge")]


def model_meta(
    cfg: ForgeConfig,
    runtime,
    precision: str,
    base_path: str,
    record: dict,
    dataset_size: int,
    wall: float,
    method: str,
    learning_rate: float,
    **own,
) -> dict:
    """forge_meta.json of a trained model: what every method writes (forge.project.records reads it), then the
    method's own fields (`own`)."""
    return {
        "base": cfg.model.base,
        "base_resolved": base_path,
        "backend": runtime.backend,
        "device": runtime.device,
        "method": method,
        "precision": precision,
        "config_hash": record["config_hash"],
        "dataset": cfg.dataset.canonical,
        "dataset_hash": record["dataset_hash"],
        "dataset_size": dataset_size,
        "wall_s": round(wall, 3),
        "learning_rate": learning_rate,
        "warm_start": record.get("warm_start"),
        "time": now(),
        **own,
    }


def effective_config(project: Project, overrides: dict | None, epochs: int | None) -> ForgeConfig:
    """The config for this run only: forge.yaml plus temporary overrides (validated the same way)."""
    raw = config_io.read_raw(project.config_path)
    patch = dict(overrides or {})
    if epochs is not None:
        patch["training"] = {**patch.get("training", {}), "epochs_min": epochs, "epochs_max": epochs}
    return config_io.validate(config_io.merge(raw, patch), "training overrides") if patch else project.config


class TrainingStopped(ForgeError):
    """Training ran into the time budget; nothing was written."""
