"""The LLM-judge scorer on recorded sessions (bodies matched) and a live local stand-in: what the judge is
asked, its cache, batches, failures as scored failures, the sealed set's silence, and calibration."""

from __future__ import annotations

import copy
import json
from contextlib import contextmanager

import pytest
from test_datagen import _batch

from forge.config import load as config_io
from forge.evaluation.judge import Judge, JudgeItem, parse_verdict
from forge.evaluation.scorers import Scorer
from forge.evaluation.stats import cohen_kappa
from forge.project import records, status
from forge.project.project import Project

from conftest import chat, write_jsonl
from llm_cassettes import FakeAnthropic, llm_cassette, message, no_llm_calls

RUBRIC = "Dates may be written in any format; the city must match."
ITEMS = [
    JudgeItem("when does the Lisbon office open", "9:00 in Lisbon", "Lisbon, nine in the morning"),
    JudgeItem("when does the Porto office open", "8:30 in Porto", "8:30 in Lisbon"),
    JudgeItem("when does the Faro office open", "10:00 in Faro", "10:00 in Faro"),  # identical: no call
    JudgeItem("when does the Braga office open", "9:30 in Braga", "  "),
]  # empty: no call


def verdict(correct: bool, reason: str, n: int) -> dict:
    return message(
        json.dumps({"correct": correct, "reason": reason}),
        input_tokens=300,
        output_tokens=20,
        n=n,
        model="claude-haiku-5-5",
    )


@contextmanager
def served(responses: list[dict], monkeypatch):
    """A live local stand-in answering `responses` in order, as the environment's Anthropic server."""
    server = FakeAnthropic(responses)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")
    monkeypatch.setenv("FORGE_RETRY_WAIT", "0")
    monkeypatch.setenv("FORGE_BATCH_POLL", "0")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def project(project_dir) -> Project:
    (project_dir / "system_prompt.md").write_text("Answer with the opening time and the city.\n")
    config_io.patch_file(
        project_dir / "forge.yaml",
        {
            "llm": {"concurrency": 1},
            "eval": {
                "scorer": "judge",
                "judge_rubric": RUBRIC,
                "output_schema": None,
                "judge_model": "claude-haiku-5-5",
            },
        },
    )
    return Project.open(project_dir)


def test_the_judge_asks_once_per_new_answer_and_caches_its_verdicts(project, monkeypatch):
    responses = [verdict(True, "same time and city", 1), verdict(False, "wrong city: Lisbon, not Porto", 2)]
    with llm_cassette(__file__, "judge", responses, monkeypatch):
        judge = Judge(project)
        got = judge.verdicts(ITEMS)
    assert [v.correct for v in got] == [True, False, True, False]
    assert got[1].reason == "judge: wrong city: Lisbon, not Porto" and got[3].reason == "empty answer"
    assert judge.summary()["judged"] == 2 and judge.cost_usd > 0
    spend = json.loads((project.output / records.SPEND_FILE).read_text())
    assert spend["by_purpose"]["judge"] == pytest.approx(judge.cost_usd)
    with no_llm_calls(monkeypatch):  # the same answers again: every verdict cached
        again = Judge(project)
        assert [v.correct for v in again.verdicts(ITEMS)] == [True, False, True, False]
    assert again.summary()["cached"] == 2 and again.summary()["judged"] == 0


def test_the_judge_request_carries_the_rubric_and_no_sampling(project):
    req = Judge(project).request(ITEMS[1])
    assert RUBRIC in req["system"][0]["text"] and "opening time and the city" in req["system"][0]["text"]
    assert req["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "8:30 in Porto" in req["messages"][0]["content"] and "8:30 in Lisbon" in req["messages"][0]["content"]
    assert req["output_config"]["format"]["schema"]["required"] == ["correct", "reason"]
    assert not {"temperature", "top_p", "top_k"} & set(req)


def test_a_changed_rubric_asks_again(project, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")
    before = Judge(project).key(ITEMS[0])
    config_io.patch_file(project.config_path, {"eval": {"judge_rubric": "Times must be exact."}})
    project.reload()
    assert Judge(project).key(ITEMS[0]) != before


def test_judge_failures_are_scored_failures_with_their_reason(project, monkeypatch):
    config_io.patch_file(project.config_path, {"llm": {"max_retries": 0}})
    project.reload()
    broken = {"status": 500, "body": {"type": "error", "error": {"type": "api_error", "message": "boom"}}}
    items = [JudgeItem(f"q{i}", f"expected {i}", f"answer {i}") for i in range(3)]
    with served(
        [message("I think it is fine.", n=1), broken, message('Verdict: {"correct": true, "reason": "ok"}', n=3)],
        monkeypatch,
    ):
        judge = Judge(project)
        got = judge.verdicts(items)
    assert not got[0].correct and got[0].reason == "judge error: no verdict in the judge's reply (stop_reason end_turn)"
    assert not got[1].correct and got[1].reason.startswith("judge error: InternalServerError")
    assert got[2].correct  # a verdict inside prose, as a small local model writes it
    assert judge.summary()["errors"] == 2
    cached = [json.loads(line) for line in (project.output / records.JUDGE_CACHE).read_text().splitlines()]
    assert len(cached) == 1  # failures are asked again next time


def test_the_sealed_set_leaves_only_verdicts_by_hash(project, monkeypatch):
    with served([verdict(False, "wrong city Lisbon", 1)], monkeypatch):
        Judge(project).verdicts([ITEMS[1]], sealed=True)
    text = (project.output / records.JUDGE_CACHE).read_text()
    assert json.loads(text).keys() == {"key", "correct"}
    assert "Porto" not in text and "Lisbon" not in text


def test_the_scorer_judges_only_answers_that_keep_the_contract(project, monkeypatch):
    config_io.patch_file(project.config_path, {"eval": {"forbidden_commands": ["reboot"]}})
    project.reload()
    with served([verdict(True, "same", 1)], monkeypatch) as server:
        scorer = Scorer.for_project(project)
        got = scorer.score_many([("q", "open at 9", '{"cmd": "reboot"}', None), ("q2", "open at 9", "9 o'clock", None)])
    assert got[0].forbidden and not got[0].correct and got[1].correct
    assert server.paths == ["POST /v1/messages"]


def test_many_answers_go_through_one_message_batch(project, monkeypatch):
    config_io.patch_file(project.config_path, {"eval": {"judge_batch_threshold": 2}})
    project.reload()
    results = (
        "\n".join(
            json.dumps(
                {
                    "custom_id": f"judge-{i}",
                    "result": {
                        "type": "succeeded",
                        "message": verdict(i != 1, "fine" if i != 1 else "wrong city", 10 + i)["body"],
                    },
                }
            )
            for i in range(2)
        )
        + "\n"
        + json.dumps({"custom_id": "judge-2", "result": {"type": "expired"}})
        + "\n"
    )
    items = [JudgeItem(f"q{i}", f"expected {i}", f"answer {i}") for i in range(3)]
    # the environment's server, with llm.base_url unset: Anthropic's API, so batches are used
    with served(
        [
            _batch("in_progress"),
            _batch("ended", 2),
            _batch("ended", 2),
            {"status": 200, "content_type": "application/binary", "body": results},
        ],
        monkeypatch,
    ) as server:
        judge = Judge(project)
        got = judge.verdicts(items)
    assert server.paths[0] == "POST /v1/messages/batches"
    assert [v.correct for v in got] == [True, False, False] and got[2].reason == "judge error: batch request expired"
    spend = json.loads((project.output / records.SPEND_FILE).read_text())
    assert spend["by_purpose"]["judge"] == pytest.approx(judge.cost_usd) and judge.cost_usd > 0


def test_parse_verdict():
    assert parse_verdict('{"correct": false, "reason": "no"}') == (False, "no")
    assert parse_verdict('Sure! {"correct": TRUE}') == (True, "")
    assert parse_verdict("yes it is correct") is None


def test_cohen_kappa():
    assert cohen_kappa([(True, True), (False, False)] * 5) == 1.0
    assert cohen_kappa([(True, False), (False, True)] * 5) == -1.0
    assert cohen_kappa([(True, True)] * 4) is None
    # 20 agree yes, 15 agree no, 5 + 10 disagree: po 0.7, pe 0.5*0.625+0.5*0.375 = 0.5
    pairs = [(True, True)] * 20 + [(False, False)] * 15 + [(True, False)] * 5 + [(False, True)] * 10
    assert cohen_kappa(pairs) == pytest.approx((0.7 - 0.5) / 0.5)


# 50 hand labels: 30 correct, 20 wrong; the judge is too strict on 2 and too lenient on 3
LABELS = [
    {
        "input": f"when does office {i} open",
        "expected": f"{8 + i % 4}:00 at office {i}",
        "answer": f"office {i} opens around {8 + i % 5}",
        "label": i < 30,
    }
    for i in range(50)
]
JUDGED = [i < 28 or 47 <= i for i in range(50)]


def test_calibration_against_hand_labels(project, cli, monkeypatch, tmp_path):
    labels = tmp_path / "labels.jsonl"
    write_jsonl(labels, LABELS)
    responses = [verdict(j, "same" if j else "different time", i + 1) for i, j in enumerate(JUDGED)]
    with llm_cassette(__file__, "calibrate", responses, monkeypatch):
        out = cli("judge", "calibrate", labels, "--project", project.root)
    assert out.exit_code == 0, out.output
    assert "items: 50" in out.output and "agreement: 0.9000" in out.output
    kappa = (0.9 - (0.6 * 0.62 + 0.4 * 0.38)) / (1 - (0.6 * 0.62 + 0.4 * 0.38))
    assert f"kappa: {kappa:.4f}" in out.output
    assert f"disagreements: {labels}:29, {labels}:30, {labels}:48, {labels}:49, {labels}:50" in out.output
    rec = json.loads((project.output / records.JUDGE_CALIBRATION).read_text())
    assert rec["confusion"] == {"both_correct": 28, "both_wrong": 17, "judge_too_lenient": 3, "judge_too_strict": 2}
    project.reload()
    shown = status.render(status.collect(project))
    assert "Scorer:      judge (claude-haiku-5-5); calibrated" in shown and f"kappa {kappa:.2f} on 50 labels" in shown
    config_io.patch_file(project.config_path, {"eval": {"judge_rubric": "Times must be exact."}})
    project.reload()
    assert "stale: the rubric or judge model changed" in status.render(status.collect(project))


def test_calibration_file_errors_name_the_line(project, cli, tmp_path):
    bad = tmp_path / "labels.jsonl"
    write_jsonl(bad, [LABELS[0], {**LABELS[1], "label": "yes"}])
    out = cli("judge", "calibrate", bad, "--project", project.root)
    assert out.exit_code == 1 and f"{bad}:2: label must be true" in out.output and "Traceback" not in out.output


def test_judge_scored_gold_eval_through_scorer_for_the_teacher(project, monkeypatch):
    """The teacher's answers under the judge: the judge is asked, and keeps no reason (the teacher's answers
    are written nowhere)."""
    from forge.evaluation.teacher import run_teacher

    write_jsonl(project.gold_path, [chat("when does the Porto office open", "8:30 in Porto")])
    write_jsonl(project.canonical_path, [chat("when does the Faro office open", "10:00 in Faro")])
    project.reload()
    responses = [message("half past eight, Porto", n=1), verdict(True, "same time, same city", 2)]
    with llm_cassette(__file__, "teacher_judged", copy.deepcopy(responses), monkeypatch):
        row = run_teacher(project, echo=lambda _: None)
    assert row["correct"] == 1 and row["scorer"] == "judge"
    cache = (project.output / records.JUDGE_CACHE).read_text()
    assert "reason" not in cache and "half past" not in cache


def test_the_judge_with_compute_remote_is_refused_in_one_line(project):
    from forge.config.load import ConfigError

    with pytest.raises(ConfigError, match="eval.scorer: judge does not work with compute.remote"):
        config_io.patch_file(project.config_path, {"compute": {"remote": "ssh://gpu/srv/p"}})
