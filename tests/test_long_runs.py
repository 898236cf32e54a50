"""Runs that last: a long Claude-planned run against a strict stand-in server (small window, real
cache accounting), compaction that replays, timeouts inside the budget, prices checked up front."""

from __future__ import annotations

import json
import time

import git
import pytest

from forge.agent import conversation, lifecycle
from forge.agent.planners import ClaudePlanner
from forge.agent.transcript import find_run, read_events
from forge.config import load as config_io
from forge.errors import ForgeError
from forge.project.project import Project

from engine_fixtures import make_agent_project
from strict_anthropic import ROUND, StrictAnthropic, rounds_policy, sign


@pytest.fixture
def server():
    s = StrictAnthropic(rounds_policy(12), window=24_000)
    yield s
    s.stop()


def standin_project(tmp_path, nano_model, url: str, **agent) -> Project:
    root = make_agent_project(
        tmp_path / "p",
        nano_model,
        llm={"base_url": url, "max_retries": 0, "timeout_s": 60},
        agent={"max_iterations": 12, "max_tool_calls": 0, "max_tokens": 8000, **agent},
        training={"epochs_min": 2, "epochs_max": 2},
        dataset={"generator_mode": "always"},
    )
    return Project.open(root)


def test_twelve_rounds_in_a_24k_window(tmp_path, nano_model, server, cli, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # augment uses the project's generator.py
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    project = standin_project(tmp_path, nano_model, server.url)
    result = cli("agent", "run", "--planner", "claude", "--goal", "improve the router", "-p", project.root)
    # All 12 rounds ran; the iteration budget (12) ends the run right after the 12th commit.
    assert "stopped (iteration budget spent (12/12))" in result.output, result.output[-3000:]
    assert server.refusals == []  # no request the real API would refuse
    assert len(server.usages) == 12 * len(ROUND) - 1
    rows = project.read_jsonl_state("experiments.jsonl")
    assert [r["iteration"] for r in rows] == list(range(1, 13))
    log = [c.message for c in git.Repo(project.root).iter_commits()]
    assert sum(m.startswith("forge iter ") for m in log) == 12
    events = read_events(find_run(project, "latest"))
    assert sum(e["event"] == "compaction" for e in events) >= 2  # it needed them, and did them in steps
    prompts = [u["prompt_tokens"] for u in server.usages]
    read = sum(u["cache_read_input_tokens"] for u in server.usages)
    assert max(prompts) + 8000 <= 24_000
    assert read / sum(prompts) >= 0.6, f"cache-read share {read / sum(prompts):.0%}"
    assert "prompt cache: " in result.output
    shown = cli("agent", "log", "-p", project.root).output
    assert "context compacted" in shown and "prompt cache: " in shown
    # The transcript rebuilds exactly the conversation the model saw last (compactions included).
    messages, *_ = lifecycle.rebuild(events)
    last_sent = [
        {
            "role": m["role"],
            "content": m["content"]
            if isinstance(m["content"], str)
            else [{k: v for k, v in b.items() if k != "cache_control"} for b in m["content"]],
        }
        for m in server.requests[-1]["messages"]
    ]
    assert messages[: len(last_sent)] == last_sent


def test_a_too_long_prompt_is_compacted_hard_and_retried(tmp_path, nano_model, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    s = StrictAnthropic(rounds_policy(2), window=9_000)
    try:
        # context_tokens far above the real window: only the server's 400 can save the run.
        project = standin_project(
            tmp_path, nano_model, s.url, max_iterations=3, context_tokens=100_000, max_tokens=1000
        )
        outcome, transcript = lifecycle.start(project, "two rounds", ClaudePlanner(project), runner_budgets(project))
    finally:
        s.stop()
    assert outcome.status == "completed", outcome.reason
    assert any("prompt is too long" in r for r in s.refusals)
    hard = [e for e in read_events(transcript.path) if e["event"] == "compaction"]
    assert hard and all(e["hard"] for e in hard)


def runner_budgets(project):
    from forge.agent.budgets import Budgets

    return Budgets.from_config(project.config.agent)


def test_a_hung_connection_costs_the_timeout_not_the_hang(tmp_path, nano_model, monkeypatch):
    monkeypatch.setenv("FORGE_RETRY_WAIT", "0")
    s = StrictAnthropic(lambda n, body: [{"type": "text", "text": "ok"}], hang_first=300)
    try:
        project = standin_project(tmp_path, nano_model, s.url)
        config_io.patch_file(project.config_path, {"llm": {"timeout_s": 1.5, "max_retries": 2}})
        project.reload()
        planner = ClaudePlanner(project)
        start = time.monotonic()
        reply = planner.next("system", [], [{"role": "user", "content": "hi"}])
        took = time.monotonic() - start
    finally:
        s.stop()
    assert reply.stop_reason == "end_turn" and took < 6, took  # one timeout (1.5 s) + an immediate retry


def test_a_planner_call_never_outlives_the_time_budget(tmp_path, nano_model, monkeypatch):
    monkeypatch.setenv("FORGE_RETRY_WAIT", "0")
    s = StrictAnthropic(lambda n, body: [{"type": "text", "text": "ok"}], hang_first=300)
    try:
        project = standin_project(tmp_path, nano_model, s.url)
        start = time.monotonic()
        with pytest.raises(Exception) as info:
            ClaudePlanner(project).next("system", [], [{"role": "user", "content": "hi"}], timeout=1.0)
        took = time.monotonic() - start
    finally:
        s.stop()
    assert "Timeout" in type(info.value).__name__ and took < 4, (type(info.value), took)


def test_unknown_price_fails_before_the_first_call(tmp_path, nano_model, monkeypatch):
    root = make_agent_project(tmp_path / "p", nano_model, agent={"planner_model": "claude-mystery-9"})
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy-key-for-tests-0000")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    with pytest.raises(ForgeError, match=r"llm.prices: no price for model 'claude-mystery-9'"):
        ClaudePlanner(Project.open(root))
    config_io.patch_file(root / "forge.yaml", {"llm": {"base_url": "http://127.0.0.1:9"}})
    warned = []
    ClaudePlanner(Project.open(root), warn=warned.append)  # a local server: $0, said once
    assert "counting it as $0" in warned[0]


def test_thinking_is_dropped_when_a_run_resumes_with_another_model(tmp_path, nano_model):
    from test_agent_loop import Scripted, use

    project = Project.open(make_agent_project(tmp_path / "p", nano_model))
    thought = {"type": "thinking", "thinking": "hmm", "signature": sign("hmm")}
    first = Scripted([([thought, use("status", {}, 1)], "tool_use")])
    first.replies.append(lambda messages: (_ for _ in ()).throw(ConnectionError("down")))
    lifecycle.start(project, "g", first, runner_budgets(project))
    again = Scripted([([{"type": "text", "text": "done"}], "end_turn")])
    again.model = "claude-opus-5-5"
    lifecycle.resume(project, "latest", again)
    sent = again.requests[0]
    assert not any(b.get("type") == "thinking" for m in sent if m["role"] == "assistant" for b in m["content"])
    resumed = [e for e in read_events(find_run(project, "latest")) if e["event"] == "run_resume"]
    assert resumed[0]["dropped_thinking"] is True


def test_compaction_keeps_pairs_kickoff_and_the_last_thinking():
    thought = {"type": "thinking", "thinking": "x" * 500, "signature": "s"}
    messages = [{"role": "user", "content": "Goal: g"}]
    for i in range(30):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    thought,
                    {"type": "text", "text": "t" * 400},
                    {"type": "tool_use", "id": f"t{i}", "name": "eval", "input": {"plan": "p" * 900}},
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"t{i}", "content": f"line one {i}\n" + "detail\n" * 300}
                ],
            }
        )
    out = conversation.compact(messages, 4, 10)
    assert out[0]["content"][0]["text"] == "Goal: g" and "dropped" in out[0]["content"][1]["text"]
    assert [m["role"] for m in out] == ["user"] + ["assistant", "user"] * 14
    for a, u in zip(out[1::2], out[2::2], strict=True):
        assert [b["id"] for b in a["content"] if b["type"] == "tool_use"] == [u["content"][0]["tool_use_id"]]
    assert out[-2]["content"][0] == thought and out[-1] == messages[-1]  # the last turns stay whole
    assert out[1]["content"][0]["type"] == "text" and out[2]["content"][0]["content"].startswith("line one")
    assert conversation.compact(out, 4, 10) == out  # idempotent: rebuilding gives the same conversation
    assert conversation.raw_tokens(out) < conversation.raw_tokens(messages) / 4
    marked = conversation.with_cache_breakpoints(out)
    assert sum("cache_control" in b for m in marked for b in m["content"]) == 2
    assert "cache_control" not in json.dumps(out)  # the conversation itself is never marked
