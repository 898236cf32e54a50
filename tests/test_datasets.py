"""Datasets: file:line errors, dedupe, provenance, atomic appends and the gold guard."""

from __future__ import annotations

import json
import os

import pytest

from forge import atomic
from forge.data.datasets import append_examples, dedupe, load_examples, normalize, provenance, stamp
from forge.data.gold_guard import GoldGuard
from forge.errors import DatasetError

from conftest import chat, write_jsonl


def test_broken_line_seven_named(tmp_path):
    path = tmp_path / "canonical.jsonl"
    rows = [json.dumps(chat(f"q{i}", "a")) for i in range(6)] + ['{"messages": [', json.dumps(chat("q7", "a"))]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError) as exc:
        load_examples(path, "dataset/canonical.jsonl")
    assert str(exc.value) == "dataset/canonical.jsonl:7: invalid JSON: Expecting value (column 15)"


def test_truncated_last_line_reported(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(chat("q", "a")) + "\n" + json.dumps(chat("r", "b"))[:20])
    with pytest.raises(DatasetError, match=r"^c.jsonl:2: truncated last line \(no newline at the end"):
        load_examples(path, "c.jsonl")


def test_empty_lines_skipped_and_last_line_without_newline_ok(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("\n" + json.dumps(chat("q", "a")) + "\n\n  \n" + json.dumps(chat("r", "b")))
    assert [e["messages"][0]["content"] for e in load_examples(path)] == ["q", "r"]


@pytest.mark.parametrize(
    "obj, problem",
    [
        ([], "expected a JSON object, got list"),
        ({"messages": []}, 'missing "messages" (a non-empty list)'),
        (
            {"messages": [{"role": "bot", "content": "x"}]},
            "messages[0].role must be one of system, user, assistant, tool, got 'bot'",
        ),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content must be a string"),
        ({"messages": [{"role": "user", "content": "q"}]}, "the last message must be the assistant's answer"),
        ({"messages": [{"role": "assistant", "content": "a"}]}, "no user message"),
        (
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "system", "content": "s"},
                    {"role": "assistant", "content": "a"},
                ]
            },
            "messages[1]: a system message may only come first",
        ),
        ({**chat("q", "a"), "provenance": {"source": "magic"}}, "provenance.source must be one of"),
    ],
)
def test_example_problems(tmp_path, obj, problem):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(obj) + "\n")
    with pytest.raises(DatasetError) as exc:
        load_examples(path, "d.jsonl")
    assert str(exc.value).startswith(f"d.jsonl:1: {problem}")


def test_normalize_and_dedupe():
    assert normalize("  What IS 2+3? ") == normalize("what is 2 + 3") == "what is 2 3"
    assert normalize("23") != normalize("2 3")
    rows, dropped = dedupe([chat("Hello!", "a"), chat("hello", "b"), chat("bye", "c")])
    assert dropped == 1 and [r["messages"][-1]["content"] for r in rows] == ["a", "c"]


def test_gold_guard_exact_and_near_duplicates():
    gold = ["Route this: please turn off the kitchen lights before I go to bed tonight", "what is 12 plus 7"]
    guard = GoldGuard(gold)
    assert guard.is_gold_like("ROUTE THIS -- please turn off the kitchen lights before I go to bed tonight!")
    assert guard.is_gold_like("Route this: please turn off the kitchen lights before I go to bed tonight now")
    assert not guard.is_gold_like("Route this: please turn on the garage heater when I wake up tomorrow")
    assert guard.is_gold_like("What is 12 plus 7?")
    assert not guard.is_gold_like("what is 12 plus 8")


def test_append_counts_duplicates_gold_and_invalid(tmp_path):
    path = tmp_path / "canonical.jsonl"
    write_jsonl(path, [chat("existing question", "a")])
    guard = GoldGuard(["the gold question about lights in the kitchen"])
    batch = [
        stamp(chat("Existing question!", "x"), "generate"),  # duplicate of the file
        stamp(chat("new one", "b"), "generate", iteration=2),
        stamp(chat("NEW ONE", "c"), "generate"),  # duplicate within batch
        stamp(chat("the gold question about lights in the kitchen", "d"), "augment"),
        {"messages": []},
    ]
    result = append_examples(path, batch, guard, schema=None)
    assert result.as_dict() == {
        "kept": 1,
        "duplicates": 2,
        "gold_rejected": 1,
        "gold_rules": {"gold_exact": 1},
        "gold_pairs": ["example 4 ~ gold example 1 (gold_exact)"],
        "invalid": 1,
        "schema_rejected": 0,
        "schema_rules": {},
    }
    rows = load_examples(path)
    assert len(rows) == 2
    assert provenance(rows[1])["source"] == "generate" and provenance(rows[1])["iteration"] == 2
    assert provenance(rows[0]) == {"source": "hand"}


def test_append_refuses_corrupt_file_without_losing_it(tmp_path):
    path = tmp_path / "canonical.jsonl"
    path.write_text(json.dumps(chat("q", "a")) + "\n" + '{"messages": [{"ro')
    before = path.read_bytes()
    with pytest.raises(DatasetError, match="truncated last line"):
        append_examples(path, [chat("new", "b")], GoldGuard([]), schema=None)
    assert path.read_bytes() == before


def test_atomic_write_survives_crash(tmp_path, monkeypatch):
    path = tmp_path / "canonical.jsonl"
    write_jsonl(path, [chat("q", "a")])
    before = path.read_bytes()

    def crash(*_a, **_k):
        raise OSError("disk died")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic.append_bytes_atomic(path, b'{"half": ')
    assert path.read_bytes() == before
    # no temp file left behind (the append's lock file stays: it is empty and reused)
    assert [p.name for p in tmp_path.iterdir() if p.name != ".canonical.jsonl.lock"] == ["canonical.jsonl"]


def test_training_path_guard(tmp_path):
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, [chat("g", "a")])
    guard = GoldGuard.from_files([gold], ["dataset/gold.jsonl"])
    with pytest.raises(DatasetError) as exc:
        guard.check_training_path(tmp_path / "." / "gold.jsonl", "dataset/gold.jsonl")
    assert str(exc.value) == "dataset/gold.jsonl: is a gold/sealed eval set; refusing to use it as training data"
    guard.check_training_path(tmp_path / "canonical.jsonl")


def test_empty_and_whitespace_inputs_are_legal(tmp_path, project_dir, cli):
    from forge.data.gold_guard import GoldGuard
    from forge.models.chat_format import prompt_text

    rows = [chat("", '{"cmd": "unknown"}'), chat("   ", '{"cmd": "unknown"}'), chat("lights on", '{"cmd": "on"}')]
    write_jsonl(project_dir / "dataset" / "gold.jsonl", rows)
    assert [e["messages"][0]["content"] for e in load_examples(project_dir / "dataset" / "gold.jsonl")] == [
        "",
        "   ",
        "lights on",
    ]
    out = cli("config", "check", "-p", project_dir).output
    assert "dataset/gold.jsonl: ok (3 examples, 2 with an empty input)" in out
    guard = GoldGuard([""])  # like any other text: an empty training input is the empty gold input
    assert guard.is_gold_like("  ") and not guard.is_gold_like("hello")
    assert dedupe(rows)[1] == 1

    class Template:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return "|".join(f"{m['role']}:{m['content']}" for m in messages)

    assert prompt_text(Template(), rows[1]["messages"]) == "user:   "  # rendered as it is
