"""The zero-shot baseline: the flywheel's first run scores the base model as iteration 0, which is not
promotable, not counted in the iteration budget, shown by status, the log, AGENT_CONTEXT.md and the report."""

from __future__ import annotations

import json

import pytest

from engine_fixtures import make_agent_project


@pytest.fixture
def root(tmp_path, nano_model):
    return make_agent_project(
        tmp_path / "p", nano_model, training={"epochs_min": 2, "epochs_max": 2}, eval={"target_accuracy": 1.0}
    )


def _rows(root):
    return [json.loads(line) for line in (root / "output" / "experiments.jsonl").read_text().splitlines()]


def test_first_flywheel_run_starts_from_the_base_model(root, cli):
    from forge.evaluation import baseline
    from forge.evaluation.promotion import PromotionRefused, check
    from forge.project.project import Project

    # the baseline's own eval results can't be promoted: they are not the evaluated output/adapter
    baseline.record(Project.open(root), "manual-check", echo=lambda _m: None)
    with pytest.raises(PromotionRefused, match="no trained adapter"):
        check(Project.open(root))
    (root / "output" / "experiments.jsonl").unlink()

    out = cli("flywheel", "--iters", "1", "--planner", "heuristic", "-p", root)
    assert out.exit_code == 0, out.output
    assert "baseline: scoring" in out.output and "iteration budget spent (1/1)" in out.output
    rows = _rows(root)
    assert [(r["iteration"], r.get("kind")) for r in rows] == [(0, "baseline"), (1, None)]
    base = rows[0]
    assert base["train_size"] == 0 and base["hypothesis"] == baseline.HYPOTHESIS
    assert base["gold_hash"] == rows[1]["gold_hash"]

    status = cli("status", "-p", root).output
    assert f"Baseline:    {base['accuracy']:.1%} ({base['correct']}/{base['total']}, base model zero-shot)" in status
    assert "Iterations:  1 / " in status
    context = (root / "AGENT_CONTEXT.md").read_text()
    assert f"- base model, zero-shot (not promotable): {100 * base['accuracy']:.1f}%" in context
    log = cli("agent", "log", "-p", root).output
    assert f"baseline (base model, zero-shot): {base['accuracy']:.1%}" in log
    assert cli("report", "-p", root).exit_code == 0
    report = (root / "output" / "report.html").read_text()
    assert "<td>base</td>" in report and f"from a zero-shot base of {base['accuracy']:.1%}" in report
    assert len(rows[1]["epoch_losses"]) == 2 and "loss per epoch (val)" in report  # the trained row's losses
    assert "loss per epoch, one line per iteration" in report and report.count("<svg") == 3
    events = list((root / "output" / "tb" / "1").glob("events.out.tfevents.*"))
    assert events  # TensorBoard: the iteration's step-level logs
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = EventAccumulator(str(events[0].parent))
    tb.Reload()
    assert "train/loss" in tb.Tags()["scalars"] and len(tb.Scalars("train/loss")) >= 2
    assert f"<td>{rows[1]['epoch_losses'][0]:.3f}, {rows[1]['epoch_losses'][1]:.3f}</td>" in report

    # the second run has history: no second baseline, and iterations go on from 2
    again = cli("flywheel", "--iters", "1", "--planner", "heuristic", "-p", root)
    assert again.exit_code == 0 and "baseline: skipped (the project already has experiments)" in again.output
    assert [r["iteration"] for r in _rows(root)] == [0, 1, 2]


def test_eval_base_records_the_baseline_and_status_shows_it_beside_the_teacher(root, cli):
    """`forge eval --base` records the zero-shot baseline for the current gold set (once per base model); status
    then shows it, and a teacher row whenever one exists, with the gap closure or why it is undefined."""
    from forge.data.datasets import file_hash
    from forge.project import records
    from forge.project.project import Project

    project = Project.open(root)
    gold, n = file_hash(project.gold_path), len(_gold(root))
    records.record_teacher(
        project,
        {
            "kind": records.TEACHER,
            "gold_hash": gold,
            "schema_hash": records.schema_hash_now(project),
            "total": n,
            "model": "claude-sonnet-5-5",
            "accuracy": 1.0,
            "correct": n,
            "ci95": [0.8, 1.0],
        },
    )
    before = cli("status", "-p", root).output
    assert "not measured on this gold set (`forge eval --base`)" in before
    assert f"Teacher:     100.0% ({n}/{n}, claude-sonnet-5-5); gap closure: undefined without a zero-shot" in before
    first = cli("eval", "--base", "-p", root)
    assert first.exit_code == 0 and "baseline: recorded" in first.output, first.output
    again = cli("eval", "--base", "-p", root)
    assert "on this gold set already recorded" in again.output
    [base] = [r for r in _rows(root) if r.get("kind") == "baseline"]
    after = cli("status", "-p", root).output
    assert f"({base['correct']}/{base['total']}, base model zero-shot)" in after
    assert "no best model yet (base" in after and "teacher 100.0% (claude-sonnet-5-5)" in after


def _gold(root) -> list[str]:
    return (root / "dataset" / "gold.jsonl").read_text().splitlines()
