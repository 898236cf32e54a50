"""The claude planner on recorded Messages API sessions: the real SDK path, tools really run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from forge.agent import runner
from forge.agent.budgets import Budgets
from forge.agent.planners import ClaudePlanner
from forge.agent.transcript import read_events
from forge.project import Project

from engine_fixtures import make_agent_project
from llm_cassettes import llm_cassette

CASSETTES = Path(__file__).parent / "cassettes" / "test_agent_claude"


def reply(n: int, content: list[dict], stop: str = "tool_use", inp: int = 300, out: int = 120,
          cache_write: int = 0, cache_read: int = 0) -> dict:
    return {"status": 200, "body": {
        "id": f"msg_01FakeAgent{n:06d}", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
        "content": content, "stop_reason": stop, "stop_sequence": None,
        "usage": {"input_tokens": inp, "output_tokens": out, "cache_creation_input_tokens": cache_write,
                  "cache_read_input_tokens": cache_read}}}


def call(n: int, name: str, data: dict, say: str = "") -> list[dict]:
    return ([{"type": "text", "text": say}] if say else []) + [
        {"type": "tool_use", "id": f"toolu_01Fake{n:06d}", "name": name, "input": data}]


RUN_TO_TARGET = [
    reply(1, call(1, "status", {}, "Let me see where the project stands."), cache_write=2400),
    reply(2, call(2, "train", {"hypothesis": "baseline: full fine-tune on the 64 seed examples"}), cache_read=2400),
    reply(3, call(3, "patch_config", {"eval": {"scorer": "exact"}}, "An exact scorer would be stricter."),
          cache_read=2400),
    reply(4, call(4, "eval", {}, "That key is not mine to change. Evaluating."), cache_read=2400),
    reply(5, [{"type": "thinking", "thinking": "Above target; promote then commit.", "signature": "c2lnLWZha2U="},
              *call(5, "promote", {})], cache_read=2400),
    reply(6, call(6, "commit", {}), cache_read=2400),
    reply(7, [{"type": "text", "text": "Target reached after one iteration; stopping."}], stop="end_turn",
          cache_read=2400),
]


@pytest.fixture
def project(tmp_path, nano_model):
    root = make_agent_project(tmp_path / "p", nano_model, n_train=64, eval={"target_accuracy": 0.5})
    return Project.open(root)


def test_full_run_to_target(project, monkeypatch):
    with llm_cassette(__file__, "run_to_target", RUN_TO_TARGET, monkeypatch):
        planner = ClaudePlanner(project)
        outcome, transcript = runner.start(project, "reach 50% on the gold set", planner, Budgets(max_iterations=3))
    assert outcome.status == "completed" and outcome.reason == "the planner finished"
    assert outcome.best_accuracy >= 0.5
    events = read_events(transcript.path)
    calls = [e for e in events if e["event"] == "tool_call"]
    assert [c["name"] for c in calls] == ["status", "train", "patch_config", "eval", "promote", "commit"]
    assert calls[2]["verdict"].startswith("refused: invalid input for patch_config: eval.scorer: unknown key")
    responses = [e for e in events if e["event"] == "model_response"]
    assert responses[0]["usage"]["cache_creation_input_tokens"] == 2400
    assert responses[1]["usage"]["cache_read_input_tokens"] == 2400
    # claude-sonnet-5-5 at $2/$10 per million; cache writes 1.25x, reads 0.1x input.
    per_turn = [(300 * 2 + 120 * 10 + 2400 * 2 * 1.25) / 1e6] + [(300 * 2 + 120 * 10 + 2400 * 0.2) / 1e6] * 6
    assert events[-1]["total_cost_usd"] == pytest.approx(sum(per_turn), abs=1e-6)
    spend = project.read_state("llm_spend.json")
    assert spend["by_purpose"]["planner"] == pytest.approx(sum(per_turn))


def test_requests_are_cached_and_carry_no_sampling_params():
    recorded = yaml.safe_load((CASSETTES / "run_to_target.yaml").read_text())["interactions"]
    bodies = [json.loads(i["request"]["body"]) for i in recorded]
    for body in bodies:
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert not {"temperature", "top_p", "top_k", "tool_choice"} & set(body)
        assert body["messages"][-1]["role"] == "user"  # no assistant prefill
        assert "reach 50% on the gold set" in body["system"][0]["text"]
    refused = bodies[3]["messages"][-1]["content"][0]
    assert refused["is_error"] is True and "eval.scorer: unknown key" in refused["content"]
    sent_back = bodies[5]["messages"][-2]["content"][0]
    assert sent_back == {"type": "thinking", "thinking": "Above target; promote then commit.",
                         "signature": "c2lnLWZha2U="}
    text = (CASSETTES / "run_to_target.yaml").read_text()
    assert "sk-ant" not in text and "dummy-key" not in text and "authorization" not in text.lower()
