"""`--resume` after a real kill -9 of a child `forge` process: during training and during augment.

The flywheel runs as its own process (the real CLI); the test waits until the transcript shows
the call in flight, SIGKILLs it, checks `forge status` calls the run stale, then resumes it and
checks the original budget completed: every iteration recorded and committed once, the training
set never smaller.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import git
import pytest

from forge.config import load as config_io
from forge.data.datasets import load_examples

from engine_fixtures import GENERATOR, make_agent_project

FORGE = str(Path(sys.executable).with_name("forge"))
SLOW_GENERATOR = "import time\n" + GENERATOR.replace(
    "def generate(n, focus, seed):\n", "def generate(n, focus, seed):\n    time.sleep(1.5)\n"
)


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}
    return {**env, "PYTHONUNBUFFERED": "1"}


def _events(root: Path) -> list[dict]:
    found = sorted((root / "output" / "runs").glob("*/transcript.jsonl"))
    if not found:
        return []
    return [json.loads(line) for line in found[-1].read_text().splitlines() if line.strip().endswith("}")]


def _kill_when(root: Path, proc: subprocess.Popen, in_flight, timeout: float = 240) -> list[dict]:
    """SIGKILL the process once `in_flight(events)` holds; the events as they were at the kill."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        events = _events(root)
        if in_flight(events):
            time.sleep(0.3)  # well inside the call
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return _events(root)
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the kill: {proc.stdout.read()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the call to kill never started")


def _calls(events, name):
    return [e for e in events if e["event"] == "tool_call" and e["name"] == name]


@pytest.fixture
def project_root(tmp_path, nano_model) -> Path:
    # A learning rate too small to reach the target: all 3 iterations run. Many epochs: a wide kill window.
    root = make_agent_project(
        tmp_path / "p",
        nano_model,
        training={"learning_rate": 1e-5, "epochs_min": 30, "epochs_max": 30},
        eval={"target_accuracy": 1.0},
        flywheel={"augment_per_failure": 2},
    )
    return root


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["train", "augment"])
def test_kill_9_then_resume_finishes_the_run(project_root, victim):
    root = project_root
    if victim == "augment":
        (root / "generator.py").write_text(SLOW_GENERATOR)
        repo = git.Repo(root)
        repo.git.add("--all")
        repo.index.commit("slow generator")
    proc = subprocess.Popen(
        [FORGE, "flywheel", "--iters", "3", "-p", str(root)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Kill during iteration 2's training, or during the first augment.
    wanted = 2 if victim == "train" else 1
    at_kill = _kill_when(
        root,
        proc,
        lambda ev: len(_calls(ev, victim)) == wanted and ev[-1]["event"] == "tool_call" and ev[-1]["name"] == victim,
    )
    assert at_kill[-1]["event"] == "tool_call" and at_kill[-1]["name"] == victim  # killed mid-call
    size_at_kill = len(load_examples(root / "dataset" / "canonical.jsonl"))

    status = subprocess.run([FORGE, "status", "-p", str(root)], env=_env(), capture_output=True, text=True)
    assert "stale" in status.stdout and "--resume latest" in status.stdout, status.stdout

    resumed = subprocess.run(
        [FORGE, "agent", "run", "--resume", "latest", "-p", str(root)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "iteration budget spent (3/3)" in resumed.stdout, resumed.stdout

    rows = [json.loads(line) for line in (root / "output" / "experiments.jsonl").read_text().splitlines()]
    assert [(r["iteration"], r.get("kind")) for r in rows] == [(0, "baseline"), (1, None), (2, None), (3, None)]
    log = [c.message for c in git.Repo(root).iter_commits()]
    assert sorted(m.split(":")[0] for m in log if m.startswith("forge iter ")) == [
        "forge iter 1",
        "forge iter 2",
        "forge iter 3",
    ]
    assert len(load_examples(root / "dataset" / "canonical.jsonl")) >= size_at_kill
    events = _events(root)
    redone = [e for e in events if e["event"] == "tool_result" and e.get("redone")]
    assert [e["name"] for e in redone] == [victim] and not redone[0]["is_error"]
    told = [e for e in events if e["event"] == "user_message" and "interrupted" in json.dumps(e["content"])]
    assert told, "the planner is told what happened"
    beat = json.loads((root / "output" / "flywheel_heartbeat.json").read_text())
    assert beat["status"] == "completed"


def test_training_past_the_deadline_keeps_the_previous_adapter(tmp_path, nano_model):
    from forge.project.project import Project
    from forge.training.sft import TrainingStopped, train

    project = Project.open(make_agent_project(tmp_path / "p", nano_model))
    train(project, epochs=1)
    before = (project.output / "adapter" / "model.safetensors").read_bytes()
    with pytest.raises(TrainingStopped, match="the partial adapter was discarded"):
        train(project, epochs=5, deadline=time.monotonic())
    assert (project.output / "adapter" / "model.safetensors").read_bytes() == before


def test_augment_past_the_deadline_keeps_what_it_wrote(tmp_path, nano_model):
    from forge.curation.augment import augment
    from forge.project.project import Project

    from conftest import write_jsonl

    project = Project.open(make_agent_project(tmp_path / "p", nano_model))
    write_jsonl(
        project.output / "eval_failures.jsonl",
        [
            {"input": "x", "expected": '{"cmd": "lights_on"}', "actual": '{"cmd": "weather"}', "reason": "wrong cmd"},
            {"input": "y", "expected": '{"cmd": "weather"}', "actual": "nope", "reason": "unparseable JSON"},
        ],
    )
    config_io.patch_file(project.config_path, {"dataset": {"generator_mode": "always"}})
    project.reload()
    reports, stopped = augment(project, 4, deadline=time.monotonic() - 1)
    assert stopped and reports == []
    reports, stopped = augment(project, 4, deadline=time.monotonic() + 600)
    assert not stopped and sum(r.kept for _, r in reports) > 0
