"""`forge train` and the train tool's one entry point: a run of the method its config names, SFT
(forge.training.sft) or GRPO (forge.training.grpo)."""

from __future__ import annotations

from forge.project.project import Project
from forge.project.run_lock import holds_run_lock
from forge.remote.mark import remote_step
from forge.training import checkpoints, sft
from forge.training.train_run import TrainResult, effective_config, trained_pulls


def train(
    project: Project,
    *,
    epochs: int | None = None,
    overrides: dict | None = None,
    echo=print,
    deadline: float | None = None,
    resume: bool = False,
) -> TrainResult:
    """One training run into output/adapter, by the method this run's config names; `resume` continues the
    interrupted run by the method it had (a GRPO run started with `--method grpo` resumes as GRPO)."""
    cfg = effective_config(project, overrides, epochs)
    if resume and cfg.training.method != "grpo" and checkpoints.interrupted_method(project) == "grpo":
        overrides = {**(overrides or {}), "training": {**(overrides or {}).get("training", {}), "method": "grpo"}}
        cfg = effective_config(project, overrides, epochs)
    if cfg.training.method != "grpo":
        return sft.train(project, epochs=epochs, overrides=overrides, echo=echo, deadline=deadline, resume=resume)
    return _grpo(project, overrides=overrides, echo=echo, deadline=deadline, resume=resume)


@holds_run_lock("train")
@remote_step(trained_pulls)
def _grpo(
    project: Project, *, overrides: dict | None = None, echo=print, deadline: float | None = None, resume: bool = False
) -> TrainResult:
    from forge.training.grpo import train_grpo

    return train_grpo(project, effective_config(project, overrides, None), echo, deadline, resume)
