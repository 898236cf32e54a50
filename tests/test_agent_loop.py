"""The agent loop with a scripted fake model (no HTTP): guards, budgets, stop reasons, resume, replay."""

from __future__ import annotations

import json
import shutil

import git
import pytest

from forge.agent import lifecycle
from forge.agent.budgets import Budgets
from forge.agent.planners import HeuristicPlanner, Reply
from forge.agent.transcript import find_run, read_events
from forge.project.project import Project

from engine_fixtures import make_agent_project


@pytest.fixture
def project(tmp_path, nano_model) -> Project:
    return Project.open(make_agent_project(tmp_path / "p", nano_model))


def use(name: str, data: dict, n: int) -> dict:
    return {"type": "tool_use", "id": f"toolu_{n:04d}", "name": name, "input": data}


class Scripted:
    """Returns the given replies in order (then end_turn); remembers every request it got."""

    name = model = "scripted"

    def __init__(self, replies, cost: float = 0.0):
        self.replies, self.cost, self.requests = list(replies), cost, []

    def next(self, system, tools, messages, timeout=None):
        self.requests.append(json.loads(json.dumps(messages)))
        if not self.replies:
            return Reply([{"type": "text", "text": "done"}], "end_turn", cost_usd=self.cost)
        r = self.replies.pop(0)
        return (
            r(messages)
            if callable(r)
            else Reply(r[0], r[1], {"input_tokens": 10, "output_tokens": 5}, "scripted", self.cost)
        )


class Forever:
    """A model that never stops calling `status`."""

    name = model = "forever"

    def __init__(self, cost: float = 0.0):
        self.n, self.cost = 0, cost

    def next(self, system, tools, messages, timeout=None):
        self.n += 1
        return Reply([use("status", {}, self.n)], "tool_use", cost_usd=self.cost)


def events_of(transcript):
    return read_events(transcript.path)


def test_refusals_go_back_to_the_model_and_the_loop_continues(project):
    script = Scripted(
        [
            ([use("patch_config", {"eval": {"target_accuracy": 0.1}}, 1)], "tool_use"),
            ([use("append_background", {"knowledge": "x" * 5000}, 2)], "tool_use"),
            ([use("rm_rf", {}, 3)], "tool_use"),
            ([use("promote", {}, 4)], "tool_use"),
            ([use("train", {"hypothesis": "h", "dataset": "dataset/gold.jsonl"}, 5)], "tool_use"),
            ([{"type": "text", "text": "I give up."}], "end_turn"),
        ]
    )
    outcome, transcript = lifecycle.start(project, "test", script, Budgets())
    assert outcome.status == "completed" and outcome.reason == "the planner finished"
    calls = [e for e in events_of(transcript) if e["event"] == "tool_call"]
    assert [c["verdict"] for c in calls] == [
        "refused: invalid input for patch_config: eval.target_accuracy: unknown key (known keys: max_new_tokens, "
        "batch_size)",
        "refused: invalid input for append_background: knowledge: must be at most 1500 characters, got 5000",
        "refused: unknown tool 'rm_rf'; available: status, show_failures, train, eval, promote, commit, augment, "
        "patch_config, append_background, update_plan",
        "ok",
        "refused: invalid input for train: dataset: unknown key (known keys: hypothesis, overrides, epochs, "
        "warm_start, grpo)",
    ]
    results = [e for e in events_of(transcript) if e["event"] == "tool_result"]
    assert all(r["is_error"] for r in results)
    assert results[3]["content"] == "refused: nothing to promote: no trained adapter (run `forge train`)"
    last_request = script.requests[-1]
    assert last_request[-1]["content"][0]["is_error"] is True
    project.reload()
    assert project.config.eval.target_accuracy == 0.95  # the forbidden patch changed nothing


def test_several_tool_calls_in_one_turn_and_stop_reasons(project):
    thinking = {"type": "thinking", "thinking": "let me look", "signature": "sig-abc"}
    script = Scripted(
        [
            ([thinking, use("status", {}, 1), use("show_failures", {"limit": 2}, 2)], "tool_use"),
            ([{"type": "text", "text": "still thinking"}], "pause_turn"),
            ([{"type": "tool_use", "id": "toolu_cut", "name": "update_plan", "input": {}}], "max_tokens"),
            ([{"type": "text", "text": "no"}], "refusal"),
        ]
    )
    outcome, transcript = lifecycle.start(project, "test", script, Budgets())
    assert outcome.status == "stopped" and outcome.reason == "the model refused to continue"
    second = script.requests[1]
    assert second[1]["content"][0] == thinking  # thinking blocks go back unchanged
    assert [b["tool_use_id"] for b in second[2]["content"]] == ["toolu_0001", "toolu_0002"]
    assert second[2]["content"][1]["is_error"] is True  # no eval yet
    third = script.requests[2]
    assert third[-1] == {"role": "assistant", "content": [{"type": "text", "text": "still thinking"}]}
    fourth = script.requests[3]
    assert fourth[-1]["content"][0]["tool_use_id"] == "toolu_cut" and fourth[-1]["content"][0]["is_error"]


@pytest.mark.parametrize(
    "budget, expect",
    [
        (dict(max_tool_calls=3), "tool-call budget spent (3/3)"),
        (dict(max_minutes=1e-9), "time budget spent"),
        (dict(max_cost_usd=1.0), "cost budget spent ($1.0000/$1)"),
    ],
)
def test_each_budget_stops_a_model_that_keeps_calling(project, budget, expect):
    planner = Forever(cost=0.5)
    outcome, transcript = lifecycle.start(project, "test", planner, Budgets(**budget))
    assert outcome.status == "stopped" and outcome.reason.startswith(expect)
    assert planner.n <= 3
    end = events_of(transcript)[-1]
    assert end["event"] == "run_end" and end["reason"].startswith(expect)


def test_iteration_budget_refuses_train_and_ends_the_run(project):
    script = Scripted(
        [
            ([use("train", {"hypothesis": "first", "epochs": 1}, 1)], "tool_use"),
            ([use("train", {"hypothesis": "second", "epochs": 1}, 2)], "tool_use"),
            ([use("eval", {}, 3)], "tool_use"),
            ([use("commit", {}, 4)], "tool_use"),
            ([use("status", {}, 5)], "tool_use"),
        ]
    )
    outcome, transcript = lifecycle.start(project, "test", script, Budgets(max_iterations=1))
    results = [e for e in events_of(transcript) if e["event"] == "tool_result"]
    assert results[1]["content"] == "iteration budget spent (1/1); no more training"  # refused by the guard
    assert [r["name"] for r in results] == ["train", "train", "eval", "commit"]
    assert outcome.reason == "iteration budget spent (1/1)"
    assert git.Repo(project.root).head.commit.message.startswith("forge iter 1: ")


def test_planner_failure_stops_cleanly_and_is_resumable(project):
    class Broken(Scripted):
        def next(self, system, tools, messages, timeout=None):
            if len(self.requests) == 1:
                self.requests.append(messages)
                raise ConnectionError("api down")
            return super().next(system, tools, messages)

    outcome, transcript = lifecycle.start(project, "test", Broken([([use("status", {}, 1)], "tool_use")]), Budgets())
    assert outcome.status == "error" and "api down" in outcome.reason
    beat = project.read_state("flywheel_heartbeat.json")
    assert beat["status"] == "error" and "api down" in beat["error"]
    script = Scripted([([{"type": "text", "text": "resumed and done"}], "end_turn")])
    outcome2, t2 = lifecycle.resume(project, "latest", script)
    assert outcome2.status == "completed" and t2.path == transcript.path
    assert script.requests[0][1]["content"][0]["name"] == "status"


def test_resume_after_a_crash_mid_tool_call(project):
    script = Scripted(
        [([use("status", {}, 1)], "tool_use"), ([use("update_plan", {"plan": "a plan here"}, 2)], "tool_use")]
    )
    _, transcript = lifecycle.start(project, "test", script, Budgets())
    lines = transcript.path.read_text().splitlines()
    # Crash: cut the transcript right after the second tool_call, leaving half a line behind.
    cut = next(i for i, line in enumerate(lines) if '"tool_call"' in line and "update_plan" in line)
    transcript.path.write_text("\n".join(lines[: cut + 1]) + '\n{"event": "tool_res')
    resumed = Scripted([([{"type": "text", "text": "ok"}], "end_turn")])
    outcome, _ = lifecycle.resume(project, None, resumed, {"max_tool_calls": 10})
    assert outcome.status == "completed"
    last_user = resumed.requests[0][-1]
    assert last_user["content"][0]["tool_use_id"] == "toolu_0002"
    assert last_user["content"][0]["content"].startswith("interrupted:")
    events = read_events(transcript.path)
    assert [e["event"] for e in events].count("run_resume") == 1
    assert events[-1]["budgets"]["tool_calls"] == 2  # the two recorded calls still count


def test_secrets_never_reach_the_transcript(project, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy-SECRET-value-123456")
    script = Scripted([([{"type": "text", "text": "my key is dummy-SECRET-value-123456"}], "end_turn")])
    _, transcript = lifecycle.start(project, "test", script, Budgets())
    text = transcript.path.read_text()
    assert "SECRET" not in text and "[REDACTED]" in text


def test_heuristic_full_run_reaches_target_and_replays(project, tmp_path, cli):
    pristine = tmp_path / "pristine"
    shutil.copytree(project.root, pristine)
    from forge.config import load as config_io

    for root in (project.root, pristine):
        config_io.patch_file(root / "forge.yaml", {"eval": {"target_accuracy": 0.75}})
    project.reload()
    outcome, transcript = lifecycle.start(project, "reach target", HeuristicPlanner(project), Budgets(max_iterations=4))
    assert outcome.reason == "the planner finished", outcome
    rows = project.read_jsonl_state("experiments.jsonl")
    assert rows[-1]["accuracy"] >= 0.75 > rows[0]["accuracy"]
    assert outcome.best_accuracy >= 0.75
    log = [c.message for c in git.Repo(project.root).iter_commits()]
    assert sum(m.startswith("forge iter ") for m in log) == len(rows)
    for name in (
        "experiments.jsonl",
        "flywheel_heartbeat.json",
        "best_score.json",
        "eval_results.json",
        "flywheel.log",
    ):
        assert (project.output / name).exists(), name
    assert (project.root / "AGENT_CONTEXT.md").read_text().startswith("# Agent context")
    # The heuristic keeps PLAN.md: after every iteration short of the target, the plan for the next one.
    events = events_of(transcript)
    plans = [e for e in events if e["event"] == "tool_call" and e["name"] == "update_plan"]
    assert len(plans) == len(rows) - 1 >= 1
    for n, plan in enumerate(plans, start=2):
        assert f"## Iteration {n}" in plan["input"]["plan"] and "failure categories" in plan["input"]["plan"]
    assert (project.root / "PLAN.md").read_text() == plans[-1]["input"]["plan"]
    # augment asks for augment_per_failure examples per failure category (one definition of category).
    augments = [e for e in events if e["event"] == "tool_call" and e["name"] == "augment"]
    assert all(a["input"]["n"] % project.config.datagen.augment_per_failure == 0 for a in augments)
    shown = cli("agent", "log", "-p", project.root).output
    assert "-> train(" in shown and "run completed: the planner finished" in shown
    # Replay the recorded decisions on an untouched copy: same results.
    run_id = transcript.run_id
    (pristine / "output" / "runs" / run_id).mkdir(parents=True)
    shutil.copy(transcript.path, pristine / "output" / "runs" / run_id / "transcript.jsonl")
    replayed = cli("agent", "replay", run_id, "-p", pristine)
    assert "divergences: 0" in replayed.output, replayed.output
    assert find_run(Project.open(pristine), "latest") != transcript.path
