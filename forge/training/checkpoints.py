"""Training checkpoints and `forge train --resume`.

The trainer writes a checkpoint after every epoch into output/.trainer/ (only the last kept). Beside
them, resume.json records what that training run was: config hash, dataset hash and the overrides,
so a resume continues the same run or refuses. The checkpoint carries the trainer's own state
(optimizer, schedule, RNG, step) and forge's epoch-loss record, so the resumed run's losses and
early-stopping decision are an uninterrupted run's.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from forge.atomic import write_json_atomic
from forge.errors import ForgeError

RESUME_FILE = "resume.json"


def start_fresh(project, record: dict) -> Path:
    """An empty trainer directory for a new run, with its resume record."""
    work = project.trainer_dir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    write_json_atomic(work / RESUME_FILE, record)
    return work


def latest(project) -> Path | None:
    work = project.trainer_dir
    found = [
        p
        for p in work.glob("checkpoint-*")
        if re.fullmatch(r"checkpoint-\d+", p.name) and (p / "trainer_state.json").is_file()
    ]
    return max(found, key=lambda p: int(p.name.split("-")[1])) if found else None


def resume_point(project, record: dict) -> tuple[Path, dict]:
    """(the last checkpoint, forge's epoch-loss record in it), after checking it belongs to this run."""
    work = project.trainer_dir
    checkpoint = latest(project)
    if checkpoint is None:
        raise ForgeError(
            "nothing to resume: no checkpoint in output/.trainer (a run writes one after each epoch; "
            "start one with `forge train`)"
        )
    saved = json.loads((work / RESUME_FILE).read_text()) if (work / RESUME_FILE).is_file() else {}
    for key, what in (
        ("config_hash", "the config"),
        ("dataset_hash", "the training set"),
        ("overrides", "the training overrides"),
        ("warm_start", "the warm start"),
    ):
        if saved.get(key) != record[key]:
            raise ForgeError(
                f"cannot resume {checkpoint.name}: {what} changed since that run started; "
                "run `forge train` to start over"
            )
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return checkpoint, state.get("stateful_callbacks", {}).get("EpochLosses", {})


def interrupted_method(project) -> str | None:
    """The method of the run whose checkpoints are waiting ("grpo" when a GRPO run left them), or None."""
    path = project.trainer_dir / RESUME_FILE
    return json.loads(path.read_text()).get("method") if path.is_file() else None


def finish(project) -> None:
    shutil.rmtree(project.trainer_dir, ignore_errors=True)


def drop_partial(work: Path) -> None:
    """Remove checkpoints the trainer did not finish writing (no trainer_state.json: it is written last), so
    `--resume` starts from the last whole one."""
    for p in Path(work).glob("checkpoint-*"):
        if p.is_dir() and not (p / "trainer_state.json").is_file():
            shutil.rmtree(p, ignore_errors=True)
