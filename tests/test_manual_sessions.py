"""`forge tool run` by hand: calls add up in a session that records iterations like a planner run."""

from __future__ import annotations

import json

import git
import pytest

from forge.config import load as config_io
from forge.project.project import Project

from engine_fixtures import make_agent_project


@pytest.fixture
def root(tmp_path, nano_model):
    return make_agent_project(tmp_path / "p", nano_model, n_train=64)


def test_train_eval_promote_commit_by_hand_records_one_iteration(root, cli):
    for args in (["train", "hypothesis=by hand", "epochs=3"], ["eval"], ["promote"], ["commit"]):
        result = cli("tool", "run", *args, "-p", root)
        assert result.exit_code == 0, result.output
    project = Project.open(root)
    rows = project.read_jsonl_state("experiments.jsonl")
    assert [(r["iteration"], r["hypothesis"]) for r in rows] == [(1, "by hand")]
    head = git.Repo(root).head.commit.message
    assert head.startswith("forge iter 1: ") and "by hand" in head
    shown = cli("tool", "session", "show", "-p", root).output
    assert "iterations 1/10" in shown and "tool calls 4/200" in shown
    log = cli("agent", "log", "manual", "-p", root).output
    assert "-> train(" in log and "-> commit(" in log
    # `latest` is an agent run, never a manual session.
    assert "no agent runs" in cli("agent", "run", "--resume", "latest", "-p", root).output
    assert "ended session manual-" in cli("tool", "session", "end", "-p", root).output
    assert "no open manual session" in cli("tool", "session", "show", "-p", root).output


def test_a_manual_session_has_budgets(root, cli):
    config_io.patch_file(root / "forge.yaml", {"agent": {"max_iterations": 1}})
    assert cli("tool", "run", "train", "hypothesis=one", "epochs=1", "-p", root).exit_code == 0
    second = cli("tool", "run", "train", "hypothesis=two", "epochs=1", "-p", root)
    assert second.exit_code == 1 and "iteration budget spent (1/1)" in second.output
    assert "`forge tool session end` starts a fresh one" in second.output
    bad = cli("tool", "run", "augment", "--json", "{bad", "-p", root)
    assert bad.exit_code == 2 and "not JSON" in bad.output
    events = [
        json.loads(line)
        for line in next((root / "output" / "runs").glob("manual-*/transcript.jsonl")).read_text().splitlines()
    ]
    assert [e["verdict"] for e in events if e["event"] == "tool_call"] == [
        "ok",
        "refused: iteration budget spent (1/1); no more training",
    ]


def test_deprecated_keys_still_work_and_name_the_new_key(root, capsys):
    raw = config_io.read_raw(root / "forge.yaml")
    raw.setdefault("flywheel", {}).update({"max_iterations": 7, "planner_model": "claude-haiku-5-5"})
    for key in ("max_iterations", "planner_model"):
        raw.get("agent", {}).pop(key, None)
    cfg = config_io.validate(raw, "old.yaml")
    assert (cfg.agent.max_iterations, cfg.agent.planner_model) == (7, "claude-haiku-5-5")
    err = capsys.readouterr().err
    assert "old.yaml: flywheel.max_iterations is deprecated: use agent.max_iterations" in err
    assert "old.yaml: flywheel.planner_model is deprecated: use agent.planner_model" in err
