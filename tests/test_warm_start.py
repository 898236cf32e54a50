"""Warm starts (training.warm_start): iteration k+1 continues the best adapter on what was added since it was
trained plus a replay sample, falls back to a fresh adapter with a reason, and the records say which."""

from __future__ import annotations

import json

import pytest

from forge.agent.heuristic import decide
from forge.config import load as config_io
from forge.data.datasets import load_examples
from forge.evaluation.promotion import promote
from forge.evaluation.runner import run_eval
from forge.project import context, records
from forge.project.project import Project
from forge.training.sft import train
from forge.training.warm_start import SEEN_FILE, example_key

from conftest import write_jsonl
from engine_fixtures import make_project, routing_examples

QUIET = {"echo": lambda *_: None}


def _iteration(project: Project, run: str, iteration: int, **kw):
    result = train(project, **kw)
    results = run_eval(project)
    records.record_experiment(project, run_id=run, iteration=iteration, hypothesis="h", results=results.as_record())
    return result


def _add(project: Project, n: int, seed: int) -> list[dict]:
    """n new examples, none of them a gold input's near-duplicate (another room number than every gold one's)."""
    gold_rooms = {e["messages"][0]["content"].rsplit(" ", 1)[-1] for e in load_examples(project.gold_path)}
    rows = [
        e
        for e in routing_examples(3 * n, seed=seed)
        if e["messages"][0]["content"].rsplit(" ", 1)[-1] not in gold_rooms
    ][:n]
    existing = [json.loads(line) for line in project.canonical_path.read_text().splitlines()]
    write_jsonl(project.canonical_path, existing + rows)
    return rows


@pytest.fixture
def lora(tmp_path, nano_model) -> Project:
    return Project.open(
        make_project(
            tmp_path / "p",
            nano_model,
            method="lora",
            n_train=48,
            training={"epochs_min": 3, "epochs_max": 3, "replay_ratio": 0.5},
        )
    )


def test_the_next_iteration_continues_the_best_on_the_new_examples_and_a_replay(lora):
    first = _iteration(lora, "r", 1, **QUIET)
    assert first.warm_start is None and first.examples == 48
    seen = (lora.output / "adapter" / SEEN_FILE).read_text().split()
    assert len(seen) == 48 and set(seen) == {example_key(e) for e in routing_examples(48, seed=1)}
    promote(lora, iteration=1)
    added = _add(lora, 20, seed=7)
    said: list[str] = []
    second = train(lora, echo=said.append)
    assert second.warm_start == {"from": records.best(lora)["path"], "from_iteration": 1, "new": 20, "replayed": 10}
    assert second.examples == 30
    assert any("warm from output/best_adapter_" in line and "20 new + 10 replayed of 68" in line for line in said)
    meta = records.read_meta(lora.output / "adapter")
    assert meta["learning_rate"] == pytest.approx(1e-2 * 0.5)  # training.warm_lr_scale
    assert set((lora.output / "adapter" / SEEN_FILE).read_text().split()) == set(seen) | {example_key(e) for e in added}
    # it continued the adapter: its first epoch already starts where the first run ended, a fresh one does not
    assert second.epoch_losses[0] < first.epoch_losses[-1] * 1.02
    config_io.patch_file(lora.config_path, {"training": {"warm_start": "none"}})
    lora.reload()
    fresh = train(lora, **QUIET)
    assert fresh.warm_start is None and fresh.examples == 68
    assert second.epoch_losses[0] < 0.95 * fresh.epoch_losses[0]


def test_the_experiment_row_and_context_say_warm_or_fresh(lora):
    _iteration(lora, "r", 1, **QUIET)
    promote(lora, iteration=1)
    _add(lora, 12, seed=8)
    _iteration(lora, "r", 2, **QUIET)
    rows = records.experiments(lora)
    assert rows[0]["start"] == "fresh" and "warm_start" not in rows[0] and rows[0]["trained_on"] == 48
    assert rows[1]["start"] == "warm" and rows[1]["warm_start"]["from_iteration"] == 1
    assert rows[1]["trained_on"] == 18 and rows[1]["train_size"] == 60
    assert "60 training examples (warm from iter 1: 12 new + 6 replayed)" in context.update_context(lora)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"lora": {"r": 16, "alpha": 32}}, "its LoRA shape (r, alpha, modules)"),
        ({}, "no example was added since it was trained"),
    ],
)
def test_a_fresh_start_says_why_it_could_not_continue(lora, change, why):
    _iteration(lora, "r", 1, **QUIET)
    promote(lora, iteration=1)
    if change:
        config_io.patch_file(lora.config_path, change)
        lora.reload()
        _add(lora, 8, seed=9)
    said: list[str] = []
    result = train(lora, echo=said.append)
    assert result.warm_start is None and result.examples == len(load_examples(lora.canonical_path))
    assert any(
        line.startswith("warm start: training a fresh adapter instead of continuing output/best_adapter_")
        and why in line
        for line in said
    ), said


def test_full_fine_tuning_continues_from_the_best_model(tmp_path, nano_model):
    project = Project.open(
        make_project(tmp_path / "p", nano_model, n_train=48, training={"epochs_min": 4, "epochs_max": 4})
    )
    first = _iteration(project, "r", 1, **QUIET)
    promote(project, iteration=1)
    _add(project, 16, seed=3)
    second = train(project, **QUIET)
    assert second.warm_start["new"] == 16 and second.epoch_losses[0] < first.epoch_losses[-1] * 1.02


def test_the_heuristic_planner_starts_fresh_after_a_warm_start_that_did_not_improve(lora):
    augment_done = [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "augment", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "ok"}]},
    ]
    messages = [{"role": "user", "content": "goal"}, *augment_done]
    rows = [{"iteration": 1, "accuracy": 0.5, "start": "fresh"}, {"iteration": 2, "accuracy": 0.5, "start": "warm"}]
    lora.output.mkdir(exist_ok=True)
    (lora.output / records.EXPERIMENTS).write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, (tool, tool_input) = decide(lora, messages)
    assert tool == "train" and tool_input["warm_start"] == "none"
    rows[1]["accuracy"] = 0.6  # the warm start improved: keep going warm (the config's default)
    (lora.output / records.EXPERIMENTS).write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, (tool, tool_input) = decide(lora, messages)
    assert tool == "train" and "warm_start" not in tool_input


def test_a_warm_start_that_would_replay_everything_trains_fresh(lora):
    _iteration(lora, "r", 1, **QUIET)
    promote(lora, iteration=1)
    _add(lora, 30, seed=11)
    config_io.patch_file(lora.config_path, {"training": {"replay_ratio": 2.0}})  # 60 wanted, 48 older
    lora.reload()
    said: list[str] = []
    result = train(lora, echo=said.append)
    assert result.warm_start is None and result.examples == 78
    assert any(
        "every older example would be replayed (30 new, 48 older), so it costs the same" in line for line in said
    ), said
