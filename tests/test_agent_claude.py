"""The claude planner on recorded Messages API sessions: the real SDK path, tools really run.

The request bodies are matched as recorded, and they carry tool results. So the model's answers on
the gold set are scripted (`scripted_answers`): what eval reports would otherwise depend on which
CPU trained the model, and replay would diverge on another machine. Training runs for real; its
losses are normalised by the cassette matcher.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from forge.agent import lifecycle
from forge.agent.budgets import Budgets
from forge.agent.planners import ClaudePlanner
from forge.agent.transcript import read_events
from forge.project.project import Project

from engine_fixtures import make_agent_project
from llm_cassettes import llm_cassette
from strict_anthropic import problems, sign

CASSETTES = Path(__file__).parent / "cassettes" / "test_agent_claude"


def reply(n: int, content: list[dict], stop: str = "tool_use") -> dict:
    """A reply as the 5.5 models send it: a signed thinking block first; usage counted from the request."""
    thought = f"Step {n}: weighing the results so far."
    thinking = {"type": "thinking", "thinking": thought, "signature": sign(thought)}
    return {
        "status": 200,
        "body": {
            "id": f"msg_01FakeAgent{n:06d}",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-5-5",
            "content": [thinking, *content],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": "auto",
        },
    }


def call(n: int, name: str, data: dict, say: str = "") -> list[dict]:
    return ([{"type": "text", "text": say}] if say else []) + [
        {"type": "tool_use", "id": f"toolu_01Fake{n:06d}", "name": name, "input": data}
    ]


RUN_TO_TARGET = [
    reply(1, call(1, "status", {}, "Let me see where the project stands.")),
    reply(2, call(2, "train", {"hypothesis": "baseline: full fine-tune on the 64 seed examples"})),
    reply(3, call(3, "patch_config", {"eval": {"scorer": "exact"}}, "An exact scorer would be stricter.")),
    reply(4, call(4, "eval", {}, "That key is not mine to change. Evaluating.")),
    reply(5, call(5, "promote", {})),
    reply(6, call(6, "commit", {})),
    reply(7, [{"type": "text", "text": "Target reached after one iteration; stopping."}], stop="end_turn"),
]


# What the trained model answered when the cassette was recorded: right on 13 of the 16 gold inputs.
WRONG_ANSWERS = {
    "turn off the lights in room 87": '{"cmd": "lights_on"}',
    "switch the lamp on in room 37": '{"cmd": "weather"}',
    "turn on the lights in room 25": '{"cmd"}',
}


def scripted_answers(project: Project, monkeypatch) -> None:
    """Every gold answer right but WRONG_ANSWERS', whatever the trained weights say."""
    from forge.data.datasets import assistant_text, load_examples, user_text
    from forge.evaluation import runner as eval_runner

    gold = load_examples(project.gold_path, project.config.dataset.gold)
    answers = [WRONG_ANSWERS.get(user_text(ex), assistant_text(ex)) for ex in gold]
    assert sum(a != assistant_text(ex) for a, ex in zip(answers, gold, strict=True)) == len(WRONG_ANSWERS)

    def generate(model, tokenizer, prompts, *_args, **_kw):
        from forge.inference.generate import Completions

        assert len(prompts) == len(answers), "only the gold set is evaluated in this run"
        out = Completions(answers)
        out.cut = [False] * len(answers)
        return out

    monkeypatch.setattr(eval_runner, "generate", generate)


@pytest.fixture
def project(tmp_path, nano_model, monkeypatch):
    root = make_agent_project(
        tmp_path / "p", nano_model, n_train=64, eval={"target_accuracy": 0.5}, agent={"context_tokens": 150000}
    )
    scripted_answers(Project.open(root), monkeypatch)
    return Project.open(root)


def test_full_run_to_target(project, monkeypatch):
    with llm_cassette(__file__, "run_to_target", RUN_TO_TARGET, monkeypatch):
        planner = ClaudePlanner(project)
        outcome, transcript = lifecycle.start(project, "reach 50% on the gold set", planner, Budgets(max_iterations=3))
    assert outcome.status == "completed" and outcome.reason == "the planner finished"
    assert outcome.best_accuracy >= 0.5
    events = read_events(transcript.path)
    calls = [e for e in events if e["event"] == "tool_call"]
    assert [c["name"] for c in calls] == ["status", "train", "patch_config", "eval", "promote", "commit"]
    assert calls[2]["verdict"].startswith("refused: invalid input for patch_config: eval.scorer: unknown key")
    responses = [e for e in events if e["event"] == "model_response"]
    assert all(r["content"][0]["type"] == "thinking" for r in responses)
    # Usage follows the breakpoints: the first request writes tools + system, later ones read them
    # and the conversation up to the previous turn.
    assert responses[0]["usage"]["cache_read_input_tokens"] == 0 < responses[0]["usage"]["cache_creation_input_tokens"]
    assert all(r["usage"]["cache_read_input_tokens"] > 0 for r in responses[1:])
    # claude-sonnet-5-5 at $2/$10 per million; cache writes 1.25x, reads 0.1x input.
    per_turn = [
        (
            u["input_tokens"] * 2
            + u["output_tokens"] * 10
            + u["cache_creation_input_tokens"] * 2 * 1.25
            + u["cache_read_input_tokens"] * 0.2
        )
        / 1e6
        for u in (r["usage"] for r in responses)
    ]
    assert events[-1]["total_cost_usd"] == pytest.approx(sum(per_turn), abs=1e-6)
    spend = project.read_state("llm_spend.json")
    assert spend["by_purpose"]["planner"] == pytest.approx(sum(per_turn))


def test_a_change_in_what_forge_sends_fails_replay(project, monkeypatch):
    """The same run, but every request also carries `temperature`: the recorded bodies no longer match."""
    from anthropic.resources.messages import Messages

    create = Messages.create
    monkeypatch.setattr(Messages, "create", lambda self, **kw: create(self, **kw, extra_body={"temperature": 0}))
    with pytest.raises(AssertionError, match="not every recorded interaction was replayed"):
        with llm_cassette(__file__, "run_to_target", RUN_TO_TARGET, monkeypatch):
            outcome, _ = lifecycle.start(
                project, "reach 50% on the gold set", ClaudePlanner(project), Budgets(max_iterations=3)
            )
    assert outcome.status == "error"


def test_requests_are_cached_and_carry_no_sampling_params():
    recorded = yaml.safe_load((CASSETTES / "run_to_target.yaml").read_text())["interactions"]
    bodies = [json.loads(i["request"]["body"]) for i in recorded]
    for n, body in enumerate(bodies):
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert not {"temperature", "top_p", "top_k", "tool_choice"} & set(body)
        assert body["messages"][-1]["role"] == "user"  # no assistant prefill
        assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
        marks = sum("cache_control" in b for m in body["messages"] for b in m["content"])
        assert marks == min(2, n + 1)  # the newest two user messages: 4 breakpoints in all
        assert problems(body, {}, 1_000_000) is None
    # The system prompt is the same bytes every turn (it is cached); what changes is in the conversation.
    assert len({json.dumps(b["system"]) for b in bodies}) == 1
    assert "reach 50% on the gold set" in bodies[0]["system"][0]["text"]
    assert "# Project state" in bodies[0]["messages"][0]["content"][1]["text"]
    # Thinking blocks go back unchanged.
    assert bodies[1]["messages"][1]["content"][0]["type"] == "thinking"
    refused = bodies[3]["messages"][-1]["content"][0]
    assert refused["is_error"] is True and "eval.scorer: unknown key" in refused["content"]
