"""The zero-shot baseline: the base model (model.base, no adapter) scored on the gold set before any training.

The flywheel records it once, on a project's first run, as iteration 0 of output/experiments.jsonl with
`"kind": "baseline"`; `forge eval --base` records it for the current gold set and schema whenever the newest
baseline there measured another base model (or none). It is not an iteration of any budget (later iterations are numbered from 1 as
before), it can't be promoted (promote only takes the evaluated output/adapter), and it is the point the
report's curve and AGENT_CONTEXT.md start from, so every later score reads as a gain over the base.
"""

from __future__ import annotations

from pathlib import Path

from forge.clock import id_stamp
from forge.evaluation.runner import run_eval
from forge.models.loading import looks_like_a_path, resolve_base
from forge.project import context, records

HYPOTHESIS = "zero-shot base model (no adapter)"


def _base_is_a_directory(project) -> bool:
    base = project.config.model.base
    if project.config.compute.remote:  # resolved there: a path may exist on the remote only
        return looks_like_a_path(base) or base.endswith(".gguf") or (project.root / base).exists()
    return Path(resolve_base(base, project.root)).is_dir()


def record(project, run_id: str, echo=print) -> dict | None:
    """Score the base model and record the baseline row (returned); None, with a line saying why, when skipped:
    the project already has experiments, or model.base is not a local model directory."""
    if records.experiments(project, baseline=True):
        echo("baseline: skipped (the project already has experiments)")
        return None
    if not _base_is_a_directory(project):
        echo(
            f"baseline: skipped (model.base {project.config.model.base} is not a local model directory "
            "(`forge model import`))"
        )
        return None
    echo(f"baseline: scoring {project.config.model.base} zero-shot on the gold set")
    results = run_eval(project, echo=echo, base=True)
    row = _write(project, results.as_record(), run_id)
    echo(f"baseline: {results.accuracy:.1%} ({results.correct}/{results.total})")
    return row


def keep(project, results: dict, echo=print) -> dict | None:
    """`forge eval --base`'s results (as_record()) as the baseline row for the current gold set and schema,
    unless the newest one there already measured the same base model (returned as None, with a line)."""
    now = records.baseline_now(project)
    if now and now.get("model_hash") == (results.get("model") or {}).get("hash"):
        echo(f"baseline: {now['accuracy']:.1%} on this gold set already recorded ({now['time']}); kept")
        return None
    row = _write(project, results, f"eval-base-{id_stamp()}")
    echo("baseline: recorded (`forge status` and the teacher's gap closure read it)")
    return row


def _write(project, results: dict, run_id: str) -> dict:
    row = records.record_experiment(
        project, run_id=run_id, iteration=0, hypothesis=HYPOTHESIS, results=results, kind=records.BASELINE
    )
    context.update_context(project)
    return row
