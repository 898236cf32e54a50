"""The teacher baseline and gap closure, on recorded sessions (bodies matched): what the teacher is asked,
that its answers go nowhere, the cache, and gap closure in every view and as a stop rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from forge.agent import lifecycle
from forge.agent.budgets import Budgets
from forge.agent.planners import Reply
from forge.agent.transcript import read_events
from forge.config import load as config_io
from forge.data.datasets import file_hash
from forge.evaluation.teacher import run_teacher
from forge.export.push import model_card
from forge.project import context, gap, records, report, status
from forge.project.project import Project

from conftest import chat, write_jsonl
from llm_cassettes import llm_cassette, message, no_llm_calls

GOLD = [
    chat("please turn off the kitchen lights before I go to bed tonight", '{"cmd": "lights_off"}'),
    chat("will it snow in the mountains this weekend", '{"cmd": "weather"}'),
    chat("put on some jazz in the living room", '{"cmd": "play_music"}'),
    chat("switch the porch light on for the guests", '{"cmd": "lights_on"}'),
]
TRAIN = [
    chat("turn on the hallway lamp", '{"cmd": "lights_on"}'),
    chat("lights off upstairs", '{"cmd": "lights_off"}'),
    chat("is it going to rain today", '{"cmd": "weather"}'),
    chat("play some rock music", '{"cmd": "play_music"}'),
    chat("kill the lights in the den", '{"cmd": "lights_off"}'),
    chat("how hot is it outside", '{"cmd": "weather"}'),
]
# A gold input with two words appended, in the training set: the guard's gold_contained rule must keep it out of
# the shots (the training-set writes refuse it; a hand edit can still put it there).
DISGUISED = chat("will it snow in the mountains this weekend or not", '{"cmd": "weather"}')
MARKER = "TEACHER-ONLY-ANSWER-7f3a"  # the one wrong teacher answer: must show up in no file, prompt or transcript
TEACHER = [
    message('{"cmd": "lights_off"}', input_tokens=400, output_tokens=8, cache_write=300, n=1),
    message('{"cmd": "weather"}', input_tokens=100, output_tokens=8, cache_read=300, n=2),
    message(f'{{"cmd": "{MARKER}"}}', input_tokens=100, output_tokens=8, cache_read=300, n=3),
    message('{"cmd": "lights_on"}', input_tokens=100, output_tokens=8, cache_read=300, n=4),
]


@pytest.fixture
def project(project_dir) -> Project:
    write_jsonl(project_dir / "dataset" / "gold.jsonl", GOLD)
    write_jsonl(project_dir / "dataset" / "canonical.jsonl", [*TRAIN, DISGUISED])
    (project_dir / "BACKGROUND.md").write_text(
        "# Background\nRoute home requests to lights_on, lights_off, play_music or weather.\n"
    )
    (project_dir / "system_prompt.md").write_text('Answer with one JSON object: {"cmd": ...}.\n')
    config_io.patch_file(project_dir / "forge.yaml", {"llm": {"concurrency": 1}, "eval": {"teacher_shots": 4}})
    return Project.open(project_dir)


def recorded_requests(name: str) -> list[dict]:
    path = Path(__file__).parent / "cassettes" / "test_teacher" / f"{name}.yaml"
    return [json.loads(i["request"]["body"]) for i in yaml.safe_load(path.read_text())["interactions"]]


def test_the_teacher_is_asked_as_the_student_with_training_shots_and_scored(project, monkeypatch):
    with llm_cassette(__file__, "teacher", TEACHER, monkeypatch):
        lines: list[str] = []
        row = run_teacher(project, echo=lines.append)
    assert (row["correct"], row["total"], row["shots"]) == (3, 4, 4)
    assert row["kind"] == "teacher" and row["gold_hash"] == file_hash(project.gold_path) and row["cost_usd"] > 0
    assert any("wrong on dataset/gold.jsonl lines 3" in line for line in lines), lines
    requests = recorded_requests("teacher")
    assert len(requests) == 4
    gold_inputs = [g["messages"][0]["content"] for g in GOLD]
    for req, gold_input in zip(requests, gold_inputs, strict=True):
        assert "lights_on, lights_off" in req["system"][0]["text"]  # BACKGROUND.md
        assert req["system"][0]["text"].startswith("Answer with one JSON")  # the student's system prompt
        shots = req["messages"][:-1]
        assert len(shots) == 8 and [m["role"] for m in shots[:2]] == ["user", "assistant"]
        assert req["messages"][-1] == {"role": "user", "content": gold_input}
        assert shots[-1]["content"][0]["cache_control"] == {"type": "ephemeral"}  # the shared prefix is cached
        shot_text = json.dumps(shots)
        assert not any(g in shot_text for g in gold_inputs)  # never gold, not even disguised
        assert "temperature" not in req
    assert len({json.dumps(r["messages"][:-1]) for r in requests}) == 1  # one cached prefix for all


def test_the_teacher_row_is_no_iteration_and_is_reused(project, monkeypatch):
    with llm_cassette(__file__, "teacher", TEACHER, monkeypatch):
        run_teacher(project, echo=lambda _: None)
    assert records.experiments(project, baseline=True) == [] and records.next_iteration(project) == 1
    with no_llm_calls(monkeypatch):  # nothing changed: no request at all
        lines: list[str] = []
        again = run_teacher(project, echo=lines.append)
    assert again["cached"] and again["correct"] == 3 and "recorded" in lines[0]
    assert len(records.teacher_rows(project)) == 1


def test_no_teacher_answer_reaches_a_record_a_prompt_or_the_transcript(project, cli, monkeypatch):
    from forge.agent.conversation import project_state
    from forge.curation.datagen import generation_prompt
    from forge.tools.tool import RunState

    with llm_cassette(__file__, "teacher", TEACHER, monkeypatch):
        out = cli("eval", "--teacher", "--project", project.root)
    assert "teacher_accuracy: 0.7500" in out.output and MARKER not in out.output
    project.reload()
    # an agent run that starts from the teacher's (recorded) score, and stops on its budget at once
    planner = Scripted([])
    outcome, transcript = lifecycle.start(
        project, "reach the target", planner, Budgets(max_tool_calls=1, tool_calls=1), echo=lambda _: None, teacher=True
    )
    assert read_events(transcript.path)[0]["teacher"]["accuracy"] == 0.75
    for result in ("status", "report"):
        cli(result, "--project", project.root)
    prompts = [
        json.dumps(generation_prompt(project, 5, None)),
        project_state(project, Budgets(), RunState()),
        lifecycle.planner_system_prompt(project, "goal"),
    ]
    files = [p for p in project.root.rglob("*") if p.is_file() and ".git" not in p.parts]
    assert len(files) > 10 and any(p.name == "transcript.jsonl" for p in files)
    leaked = [str(p) for p in files if MARKER in p.read_text(errors="replace")] + [t for t in prompts if MARKER in t]
    assert leaked == []


class Scripted:
    name = model = "scripted"

    def __init__(self, replies):
        self.replies, self.calls = list(replies), 0

    def next(self, system, tools, messages, timeout=None):
        self.calls += 1
        return self.replies.pop(0) if self.replies else Reply([{"type": "text", "text": "done"}], "end_turn")


def _measured(project, base: float, teacher: float, best: float | None) -> None:
    """A baseline row, a teacher row and a best score on the project's current gold set, as the engine writes them."""
    gold, n, schema = file_hash(project.gold_path), len(GOLD), records.schema_hash_now(project)
    row = {"gold_hash": gold, "schema_hash": schema, "total": n, "ci95": [0.0, 1.0]}
    records.record_experiment(
        project,
        run_id="r0",
        iteration=0,
        hypothesis="zero-shot base model (no adapter)",
        kind=records.BASELINE,
        results={
            **row,
            "accuracy": base,
            "correct": round(base * n),
            "per_cmd": {},
            "wall_s": 1,
            "gold": {"hash": gold},
            "model": {"path": "base"},
            **({"schema": {"hash": schema}} if schema else {}),
        },
    )
    records.record_teacher(
        project,
        {
            "kind": records.TEACHER,
            **row,
            "model": "claude-sonnet-5-5",
            "accuracy": teacher,
            "correct": round(teacher * n),
        },
    )
    if best is not None:
        (project.output / records.BEST).write_text(
            json.dumps(
                {
                    "accuracy": best,
                    "iteration": 1,
                    "path": "output/best",
                    "gold_hash": gold,
                    "schema_hash": schema,
                    "correct": round(best * n),
                    "total": n,
                    "ci95": [0.5, 1.0],
                    "per_cmd": {},
                }
            )
        )


def test_gap_closure_in_status_report_context_and_card(project, monkeypatch):
    _measured(project, base=0.25, teacher=1.0, best=0.75)
    g = gap.gap(project)
    assert (g["closure"], g["advice"]) == (pytest.approx(2 / 3, abs=1e-4), "retune")
    shown = status.render(status.collect(project))
    assert "Teacher:" in shown and "0.67 of the gap closed" in shown and "teacher 100.0%" in shown
    assert "Teacher gap: 0.67 of the gap closed" in context.update_context(project)
    assert "How close to the teacher" in report.build(project)
    monkeypatch.setattr("forge.export.push.promoted", lambda _p: records.best(project))
    monkeypatch.setattr("forge.export.push.card_data", lambda *_a: type("C", (), {"to_yaml": lambda self: "x: 1"})())
    assert "0.67 of the gap closed" in model_card(project)


def test_gap_closure_is_undefined_when_the_teacher_is_no_better_than_the_base(project):
    _measured(project, base=0.5, teacher=0.5, best=0.75)
    g = gap.gap(project)
    assert g["closure"] is None and "undefined" in gap.gap_text(g)


def test_stop_at_gap_closure_stops_a_run(project):
    config_io.patch_file(project.config_path, {"agent": {"stop_at_gap_closure": 0.6}})
    project.reload()
    _measured(project, base=0.25, teacher=1.0, best=0.5)  # closure 0.33: the planner is asked
    planner = Scripted([])
    outcome, _ = lifecycle.start(project, "goal", planner, Budgets(), echo=lambda _: None)
    assert planner.calls == 1 and "without calling any tool" in outcome.reason
    (project.output / records.BEST).write_text(json.dumps({**records.best(project), "accuracy": 0.75}))  # 0.67
    planner = Scripted([])
    outcome, transcript = lifecycle.start(project, "goal", planner, Budgets(), echo=lambda _: None)
    assert planner.calls == 0 and outcome.status == "completed"
    assert outcome.reason.startswith("gap closure 0.67 reached agent.stop_at_gap_closure 0.6"), outcome.reason
    assert read_events(transcript.path)[-1]["gap"]["closure"] == pytest.approx(0.6667, abs=1e-4)


def test_a_gold_change_retires_the_teacher_score(project, monkeypatch):
    _measured(project, base=0.25, teacher=1.0, best=0.75)
    write_jsonl(project.gold_path, GOLD[:3])
    assert gap.gap(project) is None


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "set_lights",
            "description": "Switch a room's lights",
            "parameters": {
                "type": "object",
                "properties": {"room": {"type": "string"}, "on": {"type": "boolean"}},
                "required": ["room", "on"],
            },
        },
    },
    {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
]


def _tool_chat(*turns) -> dict:
    return {"tools": TOOLS, "messages": list(turns)}


def _calls(*calls, cid="c") -> dict:
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": f"{cid}{n}", "type": "function", "function": {"name": name, "arguments": args}}
            for n, (name, args) in enumerate(calls, 1)
        ],
    }


def tool_use(calls: list[tuple[str, dict]], n: int) -> dict:
    """A canned Messages API response that calls tools."""
    out = message("", input_tokens=300, output_tokens=20, n=n)
    out["body"]["content"] = [
        {"type": "tool_use", "id": f"toolu_{n}{i}", "name": name, "input": args} for i, (name, args) in enumerate(calls)
    ]
    out["body"]["stop_reason"] = "tool_use"
    return out


TOOL_GOLD = [
    # two calls at once, the second turn after their results: the history travels as tool_use / tool_result
    _tool_chat(
        {"role": "user", "content": "lights on in the den and the weather in Oslo"},
        _calls(("set_lights", {"room": "den", "on": True}), ("get_weather", {"city": "Oslo"}), cid="g"),
        {"role": "tool", "tool_call_id": "g1", "content": "ok"},
        {"role": "tool", "tool_call_id": "g2", "content": "4C, rain"},
        {"role": "assistant", "content": "Den lights on; 4C and rain in Oslo."},
        {"role": "user", "content": "and off again in the den please"},
        _calls(("set_lights", {"room": "den", "on": False}), cid="h"),
    ),
    # nothing fits: a text reply is right
    _tool_chat(
        {"role": "user", "content": "book me a table for two at eight"},
        {"role": "assistant", "content": "I can't book tables; I can switch lights or check the weather."},
    ),
    _tool_chat(
        {"role": "user", "content": "what's the weather doing in Lima"},
        _calls(("get_weather", {"city": "Lima"}), cid="k"),
    ),
]
TOOL_TRAIN = [
    _tool_chat(
        {"role": "user", "content": "kitchen lights off"}, _calls(("set_lights", {"room": "kitchen", "on": False}))
    ),
    _tool_chat({"role": "user", "content": "is it cold in Rome"}, _calls(("get_weather", {"city": "Rome"}))),
]
TOOL_TEACHER = [
    tool_use([("set_lights", {"room": "den", "on": False})], 1),
    message("Sorry, I can only switch lights and check the weather.", output_tokens=12, n=2),
    tool_use([("get_weather", {"city": "Lima"}), ("set_lights", {"room": "hall", "on": True})], 3),
]


def test_the_teacher_answers_tool_conversations_with_the_apis_tool_use(project_dir, monkeypatch):
    write_jsonl(project_dir / "dataset" / "gold.jsonl", TOOL_GOLD)
    write_jsonl(project_dir / "dataset" / "canonical.jsonl", TOOL_TRAIN)
    (project_dir / "system_prompt.md").write_text("You run the house.\n")
    config_io.patch_file(project_dir / "forge.yaml", {"llm": {"concurrency": 1}, "eval": {"scorer": "call"}})
    with llm_cassette(__file__, "teacher_tools", TOOL_TEACHER, monkeypatch):
        row = run_teacher(Project.open(project_dir), echo=lambda _: None)
    # right: the one call after the history, the text reply where nothing fits; wrong: an extra call
    assert (row["correct"], row["total"]) == (2, 3) and list(row["per_example"].values()) == [True, True, False]
    first, second, _ = recorded_requests("teacher_tools")
    assert [t["name"] for t in first["tools"]] == ["set_lights", "get_weather"]
    assert first["tools"][0]["input_schema"]["required"] == ["room", "on"] and first["tool_choice"] == {"type": "auto"}
    assert "output_config" not in first or "format" not in first["output_config"]
    assert [m["role"] for m in first["messages"]] == ["user", "assistant", "user", "assistant", "user"]
    assert [b["type"] for b in first["messages"][1]["content"]] == ["tool_use", "tool_use"]
    assert [(b["type"], b["tool_use_id"]) for b in first["messages"][2]["content"]] == [
        ("tool_result", "g1"),
        ("tool_result", "g2"),
    ]
    assert first["messages"][-1]["content"] == [{"type": "text", "text": "and off again in the den please"}]
    system = first["system"][0]
    assert system["text"].startswith("You run the house.") and "kitchen lights off" in system["text"]
    assert system["cache_control"] == {"type": "ephemeral"} and first["system"] == second["system"]
    assert not any(g["messages"][0]["content"] in system["text"] for g in TOOL_GOLD)  # worked examples are training
