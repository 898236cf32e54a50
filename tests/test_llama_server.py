"""forge against a real Anthropic-compatible server someone else wrote: llama.cpp's llama-server on loopback,
serving SmolLM2-135M-Instruct (no mock, no cassette). A 135M model is a poor planner, data writer, teacher
and judge: what it sends back (prose where a tool call was wanted, no verdict JSON, usage without cache
fields, no thinking blocks, a small context window) must end in a clean stop or a scored failure with a
one-line reason, never a traceback (the CLI runner re-raises any exception)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import llama_server
import pytest

from forge.agent.transcript import read_events
from forge.config import load as config_io

from conftest import smollm2_gguf
from engine_fixtures import make_agent_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with llama_server.serve(smollm2_gguf(), ctx=8192, log=log) as url:
        yield url


def _project(root: Path, nano_model: Path, url: str) -> Path:
    make_agent_project(root, nano_model)
    (root / "generator.py").unlink()  # generation goes to the server, not the offline generator
    zero = {"input": 0.0, "output": 0.0}
    config_io.patch_file(
        root / "forge.yaml",
        {
            "llm": {
                "base_url": url,
                "timeout_s": 60,
                "max_retries": 1,
                "concurrency": 2,
                "prices": {"claude-sonnet-5-5": zero, "claude-haiku-5-5": zero},
            },
            "agent": {"max_tokens": 512},
            "eval": {"teacher_shots": 2},
        },
    )
    return root


@pytest.fixture
def project(tmp_path, nano_model, server, monkeypatch) -> Path:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.setenv("FORGE_RETRY_WAIT", "0")
    return _project(tmp_path / "p", nano_model, server)


def _one_line_end(root: Path) -> dict:
    runs = sorted((root / "output" / "runs").glob("*/transcript.jsonl"))
    events = read_events(runs[-1])
    end = events[-1]
    assert end["event"] == "run_end" and "\n" not in end["reason"], end
    return {"events": events, "end": end}


def test_the_claude_planner_against_llama_server_stops_cleanly(project, cli):
    out = cli(
        "agent",
        "run",
        "--planner",
        "claude",
        "--goal",
        "reach the target accuracy",
        "--max-tool-calls",
        "5",
        "--max-minutes",
        "5",
        "--project",
        project,
    )
    assert "Traceback" not in out.output
    run = _one_line_end(project)
    responses = [e for e in run["events"] if e["event"] == "model_response"]
    assert responses and all(e["usage"]["cache_creation_input_tokens"] == 0 for e in responses)
    assert run["end"]["total_cost_usd"] == 0.0  # llm.prices at 0 for a local server
    turns_or_stop = len(responses) >= 5 or run["end"]["status"] in ("completed", "stopped")
    assert turns_or_stop, run["end"]
    if run["end"]["status"] == "completed" and not [e for e in run["events"] if e["event"] == "tool_call"]:
        assert run["end"]["reason"].startswith("the planner finished without calling any tool"), run["end"]


def test_a_window_smaller_than_the_planner_prefix_is_said_in_one_line(tmp_path, nano_model, cli, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("FORGE_RETRY_WAIT", "0")
    with llama_server.serve(smollm2_gguf(), ctx=512) as url:
        root = _project(tmp_path / "small", nano_model, url)
        out = cli(
            "agent",
            "run",
            "--planner",
            "claude",
            "--goal",
            "reach the target",
            "--max-tool-calls",
            "3",
            "--project",
            root,
        )
    assert out.exit_code == 1 and "Traceback" not in out.output
    end = _one_line_end(root)["end"]
    assert end["status"] == "error" and "512-token window" in end["reason"], end


def test_generate_against_llama_server(project, cli):
    out = cli("generate", "--n", "6", "--project", project)
    assert "Traceback" not in out.output and "kept:" in out.output, out.output


def test_the_teacher_against_llama_server(project, cli):
    out = cli("eval", "--teacher", "--project", project)
    assert out.exit_code == 0 and "Traceback" not in out.output, out.output
    assert "teacher_accuracy:" in out.output and "cost_usd: $0.0000" in out.output
    rows = [json.loads(line) for line in (project / "output" / "experiments.jsonl").read_text().splitlines()]
    assert rows[-1]["kind"] == "teacher" and rows[-1]["total"] == 16


def test_a_judge_scored_eval_against_llama_server(project, cli, smollm2):
    # SmolLM2 itself answers the gold set zero-shot (the tiny model would answer nothing), SmolLM2 judges
    config_io.patch_file(
        project / "forge.yaml",
        {
            "model": {"base": str(smollm2)},
            "eval": {"scorer": "judge", "judge_model": "claude-haiku-5-5", "output_schema": None, "max_new_tokens": 24},
        },
    )
    out = cli("eval", "--base", "--project", project)
    assert out.exit_code == 0 and "Traceback" not in out.output, out.output
    results = json.loads((project / "output" / "eval_results.json").read_text())
    judge = results["judge"]
    assert judge["judged"] + judge["errors"] + judge["cached"] > 0 and judge["cost_usd"] == 0.0
    failures = [json.loads(line) for line in (project / "output" / "eval_failures.jsonl").read_text().splitlines()]
    # an answer cut at max_new_tokens says so first, then what the judge said of what was left of it
    reasons = [re.sub(r"^cut at eval\.max_new_tokens \(24 tokens\): ", "", f["reason"]) for f in failures]
    assert all(r.startswith(("judge", "empty answer")) for r in reasons), failures[:3]
