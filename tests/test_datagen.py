"""generate / augment / patch / audit on recorded Messages API sessions; clean, import, offline generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from forge.config import load as config_io
from forge.curation.audit import apply_fixes, audit
from forge.curation.augment import augment
from forge.curation.cleaning import clean
from forge.curation.datagen import generate
from forge.curation.import_file import import_file
from forge.data.datasets import load_examples, provenance, stamp
from forge.project.project import Project

from conftest import chat, write_jsonl
from llm_cassettes import llm_cassette, message, overloaded

GOLD = [
    chat("please turn off the kitchen lights before I go to bed tonight", '{"cmd": "lights_off"}'),
    chat("zebra quartz will it snow in the mountains", '{"cmd": "weather"}'),
]
CASSETTES = Path(__file__).parent / "cassettes" / "test_datagen"


def pairs(*items) -> str:
    return json.dumps({"examples": [{"user": u, "assistant": a} for u, a in items]})


@pytest.fixture
def project(project_dir) -> Project:
    write_jsonl(project_dir / "dataset" / "gold.jsonl", GOLD)
    write_jsonl(project_dir / "dataset" / "canonical.jsonl", [chat("existing question one", '{"cmd": "weather"}')])
    (project_dir / "BACKGROUND.md").write_text(
        '# Background\nRoute home requests to lights_on, lights_off, play_music or weather. Answer {"cmd": ...}.\n'
    )
    config_io.patch_file(project_dir / "forge.yaml", {"llm": {"concurrency": 1}})
    return Project.open(project_dir)


GENERATE = [
    message(
        pairs(
            ("switch on the porch light", '{"cmd": "lights_on"}'),
            ("Existing question one!", '{"cmd": "weather"}'),  # duplicate of the file
            ("Please turn off the kitchen lights before I go to bed tonight!", '{"cmd": "lights_off"}'),
            ("play jazz in the study", '{"cmd": "play_music"}'),
        ),
        n=1,
    ),
    message("Sure! Here are your examples: {oops", stop_reason="end_turn", n=2),  # invalid JSON
    overloaded(),  # 529, then success
    message(
        json.dumps(
            {
                "examples": [
                    *json.loads(
                        pairs(
                            ("is it sunny today", '{"cmd": "weather"}'),
                            ("IS IT SUNNY TODAY?", '{"cmd": "weather"}'),  # duplicate within run
                            ("dim the lights", "lights_dim"),
                        )
                    )["examples"],  # not JSON
                    {"user": "turn it up"},
                ]
            }
        ),  # no answer at all
        input_tokens=1200,
        output_tokens=300,
        cache_read=800,
        n=3,
    ),
]


def test_generate_counts_rejections_and_cost(project, monkeypatch):
    with llm_cassette(__file__, "generate", GENERATE, monkeypatch):
        report = generate(project, 12, batch_size=4)
    d = report.as_dict()
    assert d["kept"] == 3
    assert d["rejected"] == {"batch_failed": 4, "duplicate": 2, "gold_exact": 1, "invalid_format": 1, "invalid_json": 1}
    assert len(d["failed_batches"]) == 1 and "invalid JSON from the model" in d["failed_batches"][0]
    # claude-sonnet-5-5: $2 / $10 per million; cache reads at 0.1x input. Three billed replies.
    expected = 2 * (1000 * 2 + 500 * 10) / 1e6 + (1200 * 2 + 800 * 0.2 + 300 * 10) / 1e6
    assert report.cost_usd == pytest.approx(expected)
    spend = json.loads((project.output / "llm_spend.json").read_text())
    assert spend["total_usd"] == pytest.approx(expected) and spend["calls"] == 3
    rows = load_examples(project.canonical_path)
    assert [r["messages"][0]["content"] for r in rows[1:]] == [
        "switch on the porch light",
        "play jazz in the study",
        "is it sunny today",
    ]
    assert all(
        provenance(r)["source"] == "generate" and provenance(r)["origin"] == "llm:claude-sonnet-5-5" for r in rows[1:]
    )


def test_generate_prompt_carries_background_and_no_gold():
    recorded = yaml.safe_load((CASSETTES / "generate.yaml").read_text())["interactions"]
    bodies = [json.loads(i["request"]["body"]) for i in recorded]
    stable, batch = bodies[0]["messages"][0]["content"]
    # The stable part (instructions, BACKGROUND.md, mission, system prompt) sits behind a cache
    # breakpoint, identical in every request; the per-batch part (anchors, count, focus) after it.
    assert stable["cache_control"] == {"type": "ephemeral"} and "cache_control" not in batch
    assert "Route home requests to lights_on" in stable["text"] and "existing question one" in batch["text"]
    assert all(b["messages"][0]["content"][0] == stable for b in bodies)
    for text in (stable["text"], batch["text"]):
        assert "kitchen lights before I go to bed" not in text and "zebra" not in text
    assert bodies[0]["output_config"] == {
        "format": {"type": "json_schema", "schema": bodies[0]["output_config"]["format"]["schema"]},
        "effort": "low",
    }  # llm.datagen_effort: thinking must not eat the answer
    assert not any(k in bodies[0] for k in ("temperature", "top_p", "top_k"))
    assert [i["response"]["status"]["code"] for i in recorded] == [200, 200, 529, 200]


AUGMENT = [
    message(
        pairs(
            ("turn the lamp on in the hall", '{"cmd": "lights_on"}'), ("hall lamp on please", '{"cmd": "lights_on"}')
        ),
        n=1,
    ),
    message(
        pairs(
            ("what's the forecast for saturday", '{"cmd": "weather"}'),
            ("will it be windy tomorrow", '{"cmd": "weather"}'),
        ),
        n=2,
    ),
]


def test_augment_targets_categories_without_gold_text(project, monkeypatch):
    write_jsonl(
        project.output / "eval_failures.jsonl",
        [
            {
                "id": "a",
                "input": "zebra quartz lamp please",
                "expected": '{"cmd": "lights_on"}',
                "actual": '{"cmd": "lights_off"}',
                "reason": "wrong cmd 'lights_off'",
            },
            {
                "id": "b",
                "input": "zebra quartz lamp now",
                "expected": '{"cmd": "lights_on"}',
                "actual": '{"cmd": "lights_off"}',
                "reason": "wrong cmd 'lights_off'",
            },
            {
                "id": "c",
                "input": "zebra quartz will it snow",
                "expected": '{"cmd": "weather"}',
                "actual": "garbage",
                "reason": "unparseable JSON: Expecting value",
            },
        ],
    )
    config_io.patch_file(project.config_path, {"datagen": {"augment_per_failure": 2}})
    project.reload()
    with llm_cassette(__file__, "augment", AUGMENT, monkeypatch):
        reports, stopped = augment(project, iteration=4)
    assert not stopped
    assert [r.kept for _, r in reports] == [2, 2]
    assert "'lights_on'" in reports[0][0] and "'lights_off' instead" in reports[0][0]
    rows = load_examples(project.canonical_path)[1:]
    assert {provenance(r)["source"] for r in rows} == {"augment"} and provenance(rows[0])["iteration"] == 4
    recorded = (CASSETTES / "augment.yaml").read_text()
    assert "zebra" not in recorded  # gold inputs never reach the generator's prompt


def test_patch(project, monkeypatch):
    responses = [message(pairs(("put on some jazz", '{"cmd": "play_music"}')), n=1)]
    with llm_cassette(__file__, "patch", responses, monkeypatch):
        report = generate(project, 1, focus="music requests that name a genre", source="patch")
    assert report.kept == 1
    row = load_examples(project.canonical_path)[-1]
    assert provenance(row)["source"] == "patch" and provenance(row)["focus"] == "music requests that name a genre"


AUDIT = [
    message(
        json.dumps(
            {
                "findings": [
                    {"index": 0, "severity": "ok", "issue": "fine", "suggested_fix": None},
                    {
                        "index": 1,
                        "severity": "error",
                        "issue": "lamp requests are lights_on",
                        "suggested_fix": {"user": "switch the lamp on", "assistant": '{"cmd": "lights_on"}'},
                    },
                    {
                        "index": 2,
                        "severity": "warning",
                        "issue": "vague input",
                        "suggested_fix": {"user": "play music in the kitchen", "assistant": '{"cmd": "play_music"}'},
                    },
                    {
                        "index": 3,
                        "severity": "error",
                        "issue": "answer is not JSON",
                        "suggested_fix": {"user": "weather now", "assistant": "weather"},
                    },
                ]
            }
        ),
        n=1,
    )
]


def test_audit_fix_rewrites_only_what_it_should(project, monkeypatch):
    rows = [
        chat("existing question one", '{"cmd": "weather"}'),
        stamp(chat("switch the lamp on", '{"cmd": "lights_off"}'), "generate"),
        chat("music", '{"cmd": "play_music"}'),
        chat("weather now", '{"cmd": "weather"}'),
    ]
    write_jsonl(project.canonical_path, rows)
    before = project.canonical_path.read_text().splitlines()
    with llm_cassette(__file__, "audit", AUDIT, monkeypatch):
        examples, findings = audit(project)
    assert [f.severity for f in findings] == ["ok", "error", "warning", "error"]
    assert apply_fixes(project, examples, findings, "error") == 1
    assert findings[3].fixed == "fix rejected: invalid_json"
    after = project.canonical_path.read_text().splitlines()
    assert after[0] == before[0] and after[2] == before[2] and after[3] == before[3]
    fixed = json.loads(after[1])
    assert fixed["messages"][-1]["content"] == '{"cmd": "lights_on"}'
    assert fixed["provenance"]["source"] == "audit-fix" and fixed["provenance"]["original_source"] == "generate"
    backups = list((project.output / "backups").glob("canonical-*.jsonl"))
    assert len(backups) == 1 and backups[0].read_text().splitlines() == before


def test_cassettes_carry_no_key():
    for path in CASSETTES.glob("*.yaml"):
        text = path.read_text()
        assert (
            "sk-ant" not in text
            and "dummy-key" not in text
            and "authorization:" not in text.lower()
            and "x-api-key" not in text.lower()
        )
        assert "127.0.0.1" not in text and "request-id" not in text


def test_clean_keeps_exactly_seed_and_hand(project, cli):
    write_jsonl(project.seed_path, [chat("seed one", '{"cmd": "weather"}')])
    rows = [
        chat("hand one", '{"cmd": "weather"}'),
        stamp(chat("seed one", '{"cmd": "weather"}'), "seed"),
        stamp(chat("gen", '{"cmd": "weather"}'), "generate"),
        stamp(chat("aug", '{"cmd": "weather"}'), "augment"),
        stamp(chat("pat", '{"cmd": "weather"}'), "patch"),
        stamp(chat("fix", '{"cmd": "weather"}'), "audit-fix"),
    ]
    write_jsonl(project.canonical_path, rows)
    out = cli("clean", "-p", project.root).output
    assert out.splitlines() == ["removed_audit-fix: 1", "removed_augment: 1", "removed_generate: 1", "removed_patch: 1"]
    assert [r["messages"][0]["content"] for r in load_examples(project.canonical_path)] == ["hand one", "seed one"]
    assert clean(project, keep_seed_only=True) == {"hand": 1}
    assert [r["messages"][0]["content"] for r in load_examples(project.canonical_path)] == ["seed one"]


def test_import_seed(project, cli):
    write_jsonl(
        project.seed_path, [chat("seed one", '{"cmd": "weather"}'), chat(GOLD[0]["messages"][0]["content"], "x")]
    )
    _, r = import_file(project, project.seed_path, "seed")
    assert r.kept == 1 and r.gold_rejected == 1
    bad = cli("import", project.gold_path, "-p", project.root)
    assert bad.exit_code == 1 and "is a gold/sealed eval set" in bad.output


GENERATOR = """
import json, random

def generate(n, focus, seed):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cmd = rng.choice(["lights_on", "weather"])
        out.append({"user": f"offline request {seed}-{i} for {cmd}", "assistant": json.dumps({"cmd": cmd})})
    out.append({"user": "broken", "assistant": "not json"})
    return out
"""


def test_offline_generator(project, cli, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    (project.root / "generator.py").write_text(GENERATOR)
    out = cli("generate", "--n", "10", "--batch-size", "5", "-p", project.root).output
    assert "source: generator:generator.py" in out and "kept: 10" in out and "rejected_invalid_json: 2" in out
    rows = load_examples(project.canonical_path)[1:]
    assert len(rows) == 10 and {provenance(r)["origin"] for r in rows} == {"generator:generator.py"}


def test_no_key_no_generator_is_one_line(project, cli, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    result = cli("generate", "--n", "5", "-p", project.root)
    assert result.exit_code == 1
    assert result.output == (
        "Error: no ANTHROPIC_API_KEY set: export ANTHROPIC_API_KEY=... (or set llm.base_url "
        "for an Anthropic-compatible server), or add a generator.py for offline generation\n"
    )


def _batch(status: str, succeeded: int = 0, errored: int = 0) -> dict:
    ended = status == "ended"
    return {
        "status": 200,
        "body": {
            "id": "msgbatch_01FakeCanned",
            "type": "message_batch",
            "processing_status": status,
            "request_counts": {
                "processing": 0 if ended else 2,
                "succeeded": succeeded,
                "errored": errored,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": "2026-11-25T01:00:00Z",
            "expires_at": "2026-11-26T01:00:00Z",
            "ended_at": "2026-11-25T01:20:00Z" if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": "{base}/v1/messages/batches/msgbatch_01FakeCanned/results" if ended else None,
        },
    }


BATCH = [
    _batch("in_progress"),
    _batch("in_progress"),
    _batch("ended", 1, 1),
    _batch("ended", 1, 1),
    {
        "status": 200,
        "content_type": "application/binary",
        "body": "\n".join(
            json.dumps(line)
            for line in [
                {
                    "custom_id": "batch-0",
                    "result": {
                        "type": "succeeded",
                        "message": message(
                            pairs(
                                ("lights on in the garage", '{"cmd": "lights_on"}'),
                                ("rain tomorrow?", '{"cmd": "weather"}'),
                            ),
                            n=7,
                        )["body"],
                    },
                },
                {
                    "custom_id": "batch-1",
                    "result": {
                        "type": "errored",
                        "error": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
                    },
                },
            ]
        )
        + "\n",
    },
]


def test_generate_with_batch_api(project, cli, monkeypatch):
    with llm_cassette(__file__, "batch_api", BATCH, monkeypatch):
        out = cli("generate", "--n", "4", "--batch-size", "2", "--batch-api", "-p", project.root).output
    assert "batch: msgbatch_01FakeCanned (2 requests)" in out
    assert "kept: 2" in out and "rejected_batch_failed: 2" in out and "failed: batch-1: errored" in out
    assert "cost_usd: 0.0035" in out  # (1000 x $2 + 500 x $10) / 1e6, halved by the Batches API
    sources = {provenance(r)["origin"] for r in load_examples(project.canonical_path)[1:]}
    assert sources == {"llm-batch:claude-sonnet-5-5"}


def _calls(*calls) -> dict:
    return {"role": "assistant", "content": "", "tool_calls": [{"name": n, "arguments": a} for n, a in calls]}


TOOL_GENERATE = [
    message(
        json.dumps(
            {
                "examples": [
                    {
                        "messages": [
                            {"role": "user", "content": "lights on in the hall please"},
                            _calls(("lights_on", '{"room": "hall"}')),
                        ]
                    },
                    {
                        "messages": [
                            {"role": "user", "content": "kitchen lights off, then some music"},  # parallel
                            _calls(("lights_off", '{"room": "kitchen"}'), ("play_music", "{}")),
                        ]
                    },
                    {
                        "messages": [
                            {"role": "user", "content": "switch the hall lights on"},  # a history
                            _calls(("lights_on", '{"room": "hall"}')),
                            {"role": "tool", "content": '{"ok": true}'},
                            {"role": "user", "content": "and now off again"},
                            _calls(("lights_off", '{"room": "hall"}')),
                        ]
                    },
                    {
                        "messages": [
                            {"role": "user", "content": "book me a table for two"},  # no function
                            {"role": "assistant", "content": "I can only run the lights, music and weather."},
                        ]
                    },
                    {
                        "messages": [
                            {"role": "user", "content": "lights on in the garage"},  # not in enum
                            _calls(("lights_on", '{"room": "garage"}')),
                        ]
                    },
                    {
                        "messages": [
                            {"role": "user", "content": "lights on somewhere"},  # not JSON
                            _calls(("lights_on", "room=hall")),
                        ]
                    },
                ]
            }
        ),
        n=1,
    )
]


def test_generate_writes_tool_conversations_over_the_projects_tools(project, monkeypatch):
    """A task whose examples call functions gets OpenAI-shaped conversations: the LLM sees the project's tools and
    answers under a schema naming their functions; each kept conversation carries the tools, its calls numbered
    and each result tied to its call; a call the tools refuse is rejected by name."""
    from engine_fixtures import TOOLS, tool_examples

    write_jsonl(project.canonical_path, tool_examples(3, seed=5))
    with llm_cassette(__file__, "generate_tools", TOOL_GENERATE, monkeypatch):
        report = generate(project, 6, batch_size=6)
    assert report.kept == 4, report.as_dict()
    assert report.rejected == {"invalid_format": 1, "outside_schema (arguments/room: enum)": 1}, report.as_dict()
    rows = load_examples(project.canonical_path)[3:]
    assert all(r["tools"] == TOOLS for r in rows)
    assert rows[1]["messages"][-1]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "lights_off", "arguments": {"room": "kitchen"}}},
        {"id": "call_2", "type": "function", "function": {"name": "play_music", "arguments": {}}},
    ]
    assert rows[2]["messages"][2] == {"role": "tool", "content": '{"ok": true}', "tool_call_id": "call_1"}
    assert "tool_calls" not in rows[3]["messages"][-1]
    body = json.loads(
        yaml.safe_load((CASSETTES / "generate_tools.yaml").read_text())["interactions"][0]["request"]["body"]
    )
    prompt = body["messages"][0]["content"][0]["text"]
    assert json.dumps(TOOLS, ensure_ascii=False, indent=1) in prompt and "conversations" in prompt
    call = body["output_config"]["format"]["schema"]["properties"]["examples"]["items"]["properties"]["messages"][
        "items"
    ]["properties"]["tool_calls"]["items"]
    assert call["properties"]["name"]["enum"] == sorted(f["function"]["name"] for f in TOOLS)
    anchors = body["messages"][0]["content"][1]["text"]
    assert '"tool_calls": [{"name": ' in anchors  # the training conversations, shown in the shape asked for
