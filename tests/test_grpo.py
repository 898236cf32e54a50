"""GRPO (training.method grpo): the reward is the project's scorer, no gold prompt enters a run, the planner's
knobs are bounded, a run after a real kill -9 resumes from its checkpoint, and the heuristic tries it once
supervised runs plateau."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forge.agent import heuristic, manual
from forge.config import load as config_io
from forge.data.output_schema import OutputSchema
from forge.evaluation.scorers import Scorer
from forge.project import records
from forge.project.project import Project
from forge.training.grpo import Reward, prompts_and_answers

from conftest import chat
from engine_fixtures import make_project

FORGE = str(Path(sys.executable).with_name("forge"))
EXPECTED = '{"cmd": "lights_on", "room": "kitchen", "level": 3}'
ANSWERS = [
    EXPECTED,
    '{"cmd": "lights_on", "room": "kitchen", "level": 4}',
    '{"cmd": "lights_off", "room": "kitchen"}',
    "lights on please",
]


@pytest.fixture
def project(tmp_path, nano_model) -> Project:
    root = make_project(
        tmp_path / "p",
        nano_model,
        method="lora",
        n_train=24,
        grpo={"steps": 200, "checkpoint_steps": 5, "max_completion_tokens": 8, "generations": 2, "prompts_per_step": 2},
    )
    config_io.patch_file(root / "forge.yaml", {"eval": {"output_schema": None}})
    return Project.open(root)


def _rewards(project: Project, scorer: str) -> list[float]:
    config_io.patch_file(project.config_path, {"eval": {"scorer": scorer}})
    project.reload()
    reward = Reward(Scorer.for_project(project), [chat("light up the kitchen", EXPECTED)] * len(ANSWERS), None)
    return reward(
        prompts=[""] * len(ANSWERS), completions=ANSWERS, expected=[EXPECTED] * len(ANSWERS), example=[0] * len(ANSWERS)
    )


def test_the_reward_is_the_projects_scorer(project):
    assert _rewards(project, "call") == [1.0, 0.5, 0.0, 0.0]  # partial credit per field once the name is right
    assert _rewards(project, "json_cmd") == [1.0, 1.0, 0.0, 0.0]
    assert _rewards(project, "json_match") == [1.0, 0.0, 0.0, 0.0]


def test_an_answer_outside_the_schema_is_worth_nothing(project, tmp_path):
    schema = {
        "type": "object",
        "required": ["cmd", "room"],
        "properties": {"cmd": {"enum": ["lights_on"]}, "room": {"type": "string"}},
    }
    (project.root / "schema.json").write_text(json.dumps(schema))
    config_io.patch_file(project.config_path, {"eval": {"scorer": "json_cmd", "output_schema": "schema.json"}})
    project.reload()
    reward = Reward(Scorer.for_project(project), [chat("x", EXPECTED)], OutputSchema.for_project(project))
    logged = {}
    got = reward(
        prompts=["", ""],
        completions=[EXPECTED, '{"cmd": "lights_on"}'],
        expected=[EXPECTED] * 2,
        example=[0, 0],
        log_metric=lambda k, v: logged.update({k: v}),
    )
    assert got == [1.0, 0.0] and logged == {"schema_valid": 0.5}


def test_grpo_prompts_are_the_training_sets_and_gold_is_refused(project, cli):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(project.config.model.base)
    examples = [e for e in json.loads("[" + ",".join(project.canonical_path.read_text().splitlines()) + "]")]
    rows = prompts_and_answers(project, tok, examples)
    gold = [json.loads(line)["messages"][-2]["content"] for line in project.gold_path.read_text().splitlines()]
    assert len(rows) == 24 and not any(g in r["prompt"] for r in rows for g in gold)
    with open(project.canonical_path, "a") as fh:  # a hand edit puts a gold input in the training set
        fh.write(project.gold_path.read_text().splitlines()[0] + "\n")
    out = cli("train", "--method", "grpo", "--project", project.root)
    assert out.exit_code == 1 and "gold" in out.output and "Traceback" not in out.output, out.output


def test_grpo_needs_a_promoted_lora_adapter(project, cli):
    out = cli("train", "--method", "grpo", "--project", project.root)
    assert out.exit_code == 1 and "starts from the promoted best model" in out.output


@pytest.mark.parametrize(
    "knobs, key",
    [
        ({"steps": 5000}, "steps"),
        ({"generations": 1}, "generations"),
        ({"learning_rate": 0.5}, "learning_rate"),
        ({"beta": -1}, "beta"),
        ({"temperature": 3}, "temperature"),
        ({"epochs": 2}, "epochs"),
    ],
)
def test_the_planners_grpo_knobs_are_bounded(project, knobs, key):
    request = {"hypothesis": "try grpo", "overrides": {"training": {"method": "grpo"}}, "grpo": knobs}
    result, _ = manual.call(project, "train", request, echo=lambda _: None)
    assert result.is_error and result.data.get("refused") and key in result.content, result.content
    assert not (project.output / "adapter").exists()


def test_the_heuristic_tries_grpo_once_after_a_supervised_plateau(project):
    rows = [{"accuracy": a, "start": "fresh"} for a in (0.5, 0.7, 0.6, 0.7)]
    assert heuristic._grpo_due(project, rows)
    assert not heuristic._grpo_due(project, rows[:-1] + [{"accuracy": 0.75, "start": "warm"}])
    assert not heuristic._grpo_due(project, [*rows[:2], {"accuracy": 0.6, "start": "grpo"}, *rows[2:]])


@pytest.mark.slow
def test_a_grpo_run_resumes_after_kill_9_and_records_grpo(project, cli):
    assert cli("train", "--epochs", "2", "--project", project.root).exit_code == 0
    assert cli("eval", "--project", project.root).exit_code == 0
    assert cli("promote", "--project", project.root).exit_code == 0
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC")}, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [FORGE, "train", "--method", "grpo", "-p", str(project.root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    work, deadline = project.output / ".trainer", time.monotonic() + 240
    while not list(work.glob("checkpoint-*/trainer_state.json")):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "no checkpoint in 240 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    out = cli("train", "--resume", "--project", project.root)  # resumes as the GRPO run it was
    assert out.exit_code == 0, out.output
    assert "resuming GRPO from checkpoint-" in out.output and "steps: 200" in out.output
    meta = json.loads((project.output / "adapter" / records.META_FILE).read_text())
    assert meta["method"] == "grpo" and meta["grpo"]["from"].startswith("output/best") and meta["grpo"]["steps"] == 200
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for run in {p.parent for p in (project.output / "tb").rglob("events.out.tfevents.*")}:
        tb = EventAccumulator(str(run))
        tb.Reload()
        tags |= set(tb.Tags()["scalars"])
    assert {"train/reward", "train/kl", "train/completions/mean_length"} <= tags, sorted(tags)
    adapter = json.loads((project.output / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == project.config.lora.r and not (project.output / "adapter" / "ref").exists()
    assert cli("eval", "--project", project.root).exit_code == 0
    results = json.loads((project.output / records.RESULTS).read_text())
    row = records.record_experiment(project, run_id="r", iteration=2, hypothesis="grpo", results=results)
    assert row["start"] == "grpo" and records.start_text(row).startswith("grpo from iter")


@pytest.mark.slow
def test_grpo_continues_a_full_model_as_a_full_model(tmp_path, nano_model, cli):
    root = make_project(
        tmp_path / "full",
        nano_model,
        method="full",
        n_train=16,
        grpo={"steps": 4, "checkpoint_steps": 2, "max_completion_tokens": 8, "generations": 2},
    )
    for args in (["train", "--epochs", "1"], ["eval"], ["promote"], ["train", "--method", "grpo"]):
        out = cli(*args, "--project", root)
        assert out.exit_code == 0, out.output
    adapter = root / "output" / "adapter"
    meta = json.loads((adapter / records.META_FILE).read_text())
    assert meta["grpo"]["policy"] == "full" and (adapter / "config.json").is_file()
    assert not (adapter / "adapter_config.json").exists()
    assert cli("eval", "--project", root).exit_code == 0
