"""Trying the model: `forge predict` (JSONL in, JSONL out, eval's prompts and batching) and `forge chat`."""

from __future__ import annotations

import json

import pytest

from forge.evaluation.runner import run_eval
from forge.evaluation.scorers import Scorer
from forge.project.project import Project
from forge.training.sft import train

from engine_fixtures import make_project


@pytest.fixture(scope="module")
def trained(tmp_path_factory, nano_model):
    root = make_project(
        tmp_path_factory.mktemp("p") / "p", nano_model, method="full", training={"epochs_min": 3, "epochs_max": 3}
    )
    train(Project.open(root))
    return root


def test_predict_answers_as_eval_scores(trained, cli):
    gold = (trained / "dataset" / "gold.jsonl").read_text()
    result = cli("predict", "-", "-p", trained, input=gold)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 16 and all(r["messages"][-1]["role"] == "assistant" and "expected" in r for r in rows)
    assert "model: output/adapter (latest, not promoted)" in result.stderr
    # the same answers eval scores: same prompts, same batching
    scorer = Scorer.for_project(Project.open(trained))
    correct = sum(scorer(r["expected"], r["messages"][-1]["content"]).correct for r in rows)
    assert correct == run_eval(Project.open(trained)).correct
    failed = {
        f["input"]: f["actual"]
        for f in map(json.loads, (trained / "output" / "eval_failures.jsonl").read_text().splitlines())
    }
    compared = [
        (r["messages"][-1]["content"], failed[r["messages"][-2]["content"]])
        for r in rows
        if r["messages"][-2]["content"] in failed
    ]
    assert len(compared) == len(failed) and all(ours == evals for ours, evals in compared)  # word for word


def test_predict_reads_a_question_from_stdin_and_writes_a_file(trained, cli, tmp_path):
    out = tmp_path / "answers.jsonl"
    request = json.dumps({"messages": [{"role": "user", "content": "turn on the lights in room 12"}]})
    result = cli("predict", "-", "-p", trained, "--out", out, input=request + "\n")
    assert result.exit_code == 0 and result.stdout == ""
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["messages"][0]["content"] == "turn on the lights in room 12" and "expected" not in row
    assert row["messages"][1]["role"] == "assistant"


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("not json", "Error: stdin:2: invalid JSON: Expecting value (column 1)"),
        (
            '{"messages": [{"role": "assistant", "content": "hi"}]}',
            "Error: stdin:2: the conversation must end with a user message or tool results (then, optionally, the expected "
            "answer)",
        ),
        ('{"prompt": "hi"}', 'Error: stdin:2: expected {"messages": [...]} with at least a user message'),
    ],
)
def test_bad_requests_are_one_line_errors(trained, cli, line, error):
    ok = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    result = cli("predict", "-", "-p", trained, input=f"{ok}\n{line}\n")
    assert result.exit_code == 1 and result.output.strip().splitlines()[-1] == error


def test_chat_streams_answers_turn_after_turn(trained, cli):
    single = cli(
        "predict",
        "-",
        "-p",
        trained,
        input=json.dumps({"messages": [{"role": "user", "content": "play some music in room 3"}]}),
    )
    expected = json.loads(single.stdout)["messages"][-1]["content"]
    result = cli(
        "chat",
        "-p",
        trained,
        "--max-new-tokens",
        "32",
        input="play some music in room 3\n/reset\nplay some music in room 3\n/exit\n",
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("model: output/adapter (latest, not promoted)") and lines[-1] == "(2 turns)"
    assert result.output.count(expected) == 2 and "(conversation reset)" in result.output


def test_nothing_trained_is_a_clear_error(project_dir, cli):
    result = cli("chat", "-p", project_dir, input="hi\n")
    assert result.exit_code == 1
    assert result.output == "Error: no trained model yet: run `forge train` (or pass --base to use the base model)\n"


def test_chat_with_tools_asks_each_calls_result_and_answers_after_them():
    from forge.inference.chat import chat

    seen: list[list[dict]] = []
    answers = iter(
        [
            '<tool_call>\n{"name": "lights", "arguments": {"room": "den"}}\n</tool_call>\n<tool_call>\n'
            '{"name": "weather", "arguments": {}}\n</tool_call>',
            "Done: den lights on, 4C outside.",
            "Hello!",
        ]
    )

    def respond(history):
        seen.append([dict(m) for m in history])
        return next(answers)

    lines = iter(["den lights and the weather", "ok", "4C", "thanks", None])
    prompts: list[str] = []

    def read_line(prompt):
        prompts.append(prompt)
        return next(lines)

    assert chat(respond, read_line, lambda _: None, tools=True) == 3
    assert prompts == ["> ", "result of lights (call_1)> ", "result of weather (call_2)> ", "> ", "> "]
    after_results = seen[1]
    assert [m["role"] for m in after_results] == ["user", "assistant", "tool", "tool"]
    assert [c["function"] for c in after_results[1]["tool_calls"]] == [
        {"name": "lights", "arguments": {"room": "den"}},
        {"name": "weather", "arguments": {}},
    ]
    assert [(m["tool_call_id"], m["content"]) for m in after_results[2:]] == [("call_1", "ok"), ("call_2", "4C")]
    assert [m["role"] for m in seen[2]] == ["user", "assistant", "tool", "tool", "assistant", "user"]


def test_chat_tools_file_errors_name_the_file(project_dir, cli, tmp_path):
    bad = tmp_path / "tools.json"
    bad.write_text('{"name": "x"}')
    result = cli("chat", "-p", project_dir, "--base", "--tools", bad, input="hi\n")
    assert result.exit_code == 1 and result.output == f"Error: {bad}: expected a JSON list of tools\n"
    bad.write_text('[{"parameters": {}}]')
    result = cli("chat", "-p", project_dir, "--base", "--tools", bad, input="hi\n")
    assert result.output == f'Error: {bad}: tools[0]: a function definition needs a "name" (string)\n'
