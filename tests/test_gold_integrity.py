"""Gold integrity end to end: no gold or sealed input in training however it gets there, planner
text checked for containment, and a locked gold set whose changes break no comparison."""

from __future__ import annotations

import copy
import json

import pytest

from forge.agent import manual
from forge.config import load as config_io
from forge.curation.audit import Finding, apply_fixes
from forge.curation.batch_api import generate_with_batches
from forge.curation.datagen import generate, generation_prompt
from forge.curation.import_file import import_file
from forge.data.datasets import load_examples, user_text
from forge.data.gold_guard import GoldGuard
from forge.project.project import Project
from forge.training.pretrain import read_corpus

from conftest import chat, write_jsonl
from engine_fixtures import make_agent_project
from llm_cassettes import FakeAnthropic, message

SEALED_INPUT = "could you dim the hallway lamp to forty percent before the guests arrive tonight"


@pytest.fixture
def root(tmp_path, nano_model):
    root = make_agent_project(tmp_path / "p", nano_model, n_train=64, dataset={"sealed": "dataset/sealed.jsonl"})
    write_jsonl(root / "dataset" / "sealed.jsonl", [chat(SEALED_INPUT, '{"cmd": "lights_on"}')])
    return root


def gold_rows(root) -> list[dict]:
    return [json.loads(line) for line in (root / "dataset" / "gold.jsonl").read_text().splitlines()]


def test_gold_copied_from_training_is_caught_at_train_time_and_cleaned(root, cli):
    train_rows = (root / "dataset" / "canonical.jsonl").read_text().splitlines()
    with open(root / "dataset" / "gold.jsonl", "a") as fh:  # hand-picking gold from examples one already has
        fh.write(train_rows[11] + "\n")
    check = cli("config", "check", "-p", root)
    assert check.exit_code == 1 and "dataset/canonical.jsonl:12 ~ dataset/gold.jsonl:17" in check.output
    assert (
        "1 training example(s) overlap gold/sealed (dataset/canonical.jsonl:12 ~ dataset/gold.jsonl:17 (gold_exact))"
    ) in cli("status", "-p", root).output
    refused = cli("train", "--epochs", "1", "-p", root)
    assert refused.exit_code == 1
    assert (
        refused.output.strip()
        .splitlines()[-1]
        .startswith(
            "Error: dataset/canonical.jsonl: 1 training example(s) overlap the gold/sealed set: "
            "dataset/canonical.jsonl:12 ~ dataset/gold.jsonl:17"
        )
    )
    cleaned = cli("clean", "--gold-overlap", "-p", root)
    assert "removed dataset/canonical.jsonl:12 ~ dataset/gold.jsonl:17" in cleaned.output
    assert "removed_gold_overlap: 1 (backup: output/backups/canonical-" in cleaned.output
    assert len(load_examples(root / "dataset" / "canonical.jsonl")) == 63
    assert len(list((root / "output" / "backups").glob("canonical-*.jsonl"))) == 1
    assert cli("train", "--epochs", "1", "-p", root).exit_code == 0


def test_containment_catches_pasted_gold_but_not_honest_descriptions():
    gold = ["please turn on the porch lights in room 12", "hi there"]
    guard = GoldGuard(gold, where=["gold.jsonl:1", "gold.jsonl:2"])
    pasted = (
        "Generate examples like the failing ones, for instance: Please turn on the porch lights in room 12! "
        + "Vary the rooms and the phrasing. " * 8
    )
    assert guard.contained(pasted) == "gold.jsonl:1"
    assert guard.match_rule(pasted) == (0, "gold_contained")  # as an example too: it holds the whole input
    assert guard.contained("requests to turn on porch lights in room twelve") is None
    assert guard.contained("say hi there to the user") == "gold.jsonl:2"  # a short input: the exact phrase
    assert guard.contained("say hi to everyone there") is None
    assert guard.contained("requests whose correct cmd is 'lights_on', phrased as polite questions") is None


@pytest.mark.parametrize(
    "tool, data",
    [
        ("augment", {"n": 2, "focus": "more like: " + SEALED_INPUT}),
        ("append_background", {"knowledge": "Users say things like 'what is the weather in room 7'; route them."}),
    ],
)
def test_planner_text_holding_gold_is_refused(root, tool, data):
    project = Project.open(root)
    if tool == "append_background":  # paste a real gold input into the planner's text
        data = {"knowledge": f"Route inputs such as {user_text(gold_rows(root)[3])} correctly."}
    before = (root / "BACKGROUND.md").read_text()
    size = len(load_examples(project.canonical_path))
    result, _ = manual.call(project, tool, data)
    assert result.is_error and "gold/sealed eval set" in result.content and "Describe the kind" in result.content
    assert SEALED_INPUT not in result.content and user_text(gold_rows(root)[3]) not in result.content
    assert (root / "BACKGROUND.md").read_text() == before and len(load_examples(project.canonical_path)) == size


# A sealed input with look-alike letters (Cyrillic о and а) and a zero-width space: the same words to a reader.
DISGUISED = SEALED_INPUT.replace("o", "\u043e").replace("a", "\u0430").replace(" tonight", "\u200b tonight")


@pytest.mark.parametrize("name", ["BACKGROUND.md", "AGENT_CONTEXT.md", "PLAN.md", "mission.md"])
def test_a_gold_input_in_a_context_file_reaches_no_prompt(root, capsys, monkeypatch, name):
    """Pasted into any context file, plainly or disguised, a gold input reaches none of the prompts built from
    them: the planner's system prompt and project state, the data generator's, the teacher's; one warning
    names the file and line, once per process."""
    from forge.agent.budgets import Budgets
    from forge.agent.conversation import project_state
    from forge.agent.lifecycle import planner_system_prompt
    from forge.evaluation import teacher
    from forge.project import records
    from forge.tools.tool import RunState

    monkeypatch.setattr(records, "_warned", set())
    gold_input = user_text(gold_rows(root)[2])
    path = root / name
    lines = (path.read_text().splitlines() if path.is_file() else []) + [
        "Notes kept by hand:",
        f"Example: {gold_input}",
        f"Also: {DISGUISED}",
        "Answer with JSON.",
    ]
    path.write_text("\n".join(lines) + "\n")
    project = Project.open(root)
    prompts = [
        planner_system_prompt(project, "reach 90%"),
        project_state(project, Budgets(), RunState()),
        generation_prompt(project, 3, None)[0]["text"],
        teacher._system(project),
    ]
    for text in prompts:
        assert gold_input not in text and DISGUISED not in text and SEALED_INPUT not in text
    assert any("Notes kept by hand:" in text for text in prompts)  # the rest of the file does reach them
    err = capsys.readouterr().err
    assert f"warning: {name}:{len(lines) - 2}: contains a gold/sealed input (dataset/gold.jsonl:3)" in err
    assert f"warning: {name}:{len(lines) - 1}: contains a gold/sealed input (dataset/sealed.jsonl:1)" in err
    generation_prompt(project, 3, None)
    assert capsys.readouterr().err == ""  # once per process, not once per batch


def test_pretrain_corpus_with_a_gold_input_is_refused(root):
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text("Routing notes.\n\nA user once asked: " + SEALED_INPUT + ".\n")
    with pytest.raises(Exception, match=r"corpus/notes.md:3: contains a gold/sealed input \(dataset/sealed.jsonl:1\)"):
        read_corpus(Project.open(root))


SEALED_LIKE = "Could you DIM the hallway lamp to forty percent before the guests arrive tonight, please?"  # near-dup


def test_sealed_near_duplicates_are_rejected_on_every_write_path(root, monkeypatch):
    project = Project.open(root)
    # generate / augment / patch share write_examples; the offline generator feeds it here.
    (root / "generator.py").write_text(
        "def generate(n, focus, seed):\n"
        f"    return [{{'user': {SEALED_LIKE!r}, 'assistant': '{{\"cmd\": \"lights_on\"}}'}}] * n\n"
    )
    config_io.patch_file(project.config_path, {"dataset": {"generator_mode": "always"}})
    project.reload()
    for source in ("generate", "augment", "patch"):
        report = generate(project, 2, focus="lamps", source=source)
        assert report.kept == 0 and sum(n for k, n in report.rejected.items() if k.startswith("gold_")) >= 1, source
    # import
    src = root / "incoming.jsonl"
    write_jsonl(src, [chat(SEALED_LIKE, '{"cmd": "lights_on"}')])
    assert import_file(project, src, "hand")[1].gold_rejected == 1
    # audit --fix proposing a sealed-like (and a gold-like) input
    examples = load_examples(project.canonical_path)
    gold_like = user_text(gold_rows(root)[0])
    findings = [
        Finding(0, "error", "x", {"user": SEALED_LIKE, "assistant": '{"cmd": "lights_on"}'}),
        Finding(1, "error", "x", {"user": gold_like, "assistant": '{"cmd": "weather"}'}),
    ]
    assert apply_fixes(project, examples, findings, "warning") == 0
    assert [f.fixed for f in findings] == ["fix rejected: gold near-duplicate"] * 2
    # Batches API results
    config_io.patch_file(project.config_path, {"dataset": {"generator_mode": "never"}})
    project.reload()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy-key-for-tests-0000")
    monkeypatch.setenv("FORGE_BATCH_POLL", "0")
    from test_datagen import _batch

    reply = message(json.dumps({"examples": [{"user": SEALED_LIKE, "assistant": '{"cmd": "lights_on"}'}]}))["body"]
    results = {
        "status": 200,
        "content_type": "application/binary",
        "body": json.dumps({"custom_id": "batch-0", "result": {"type": "succeeded", "message": reply}}) + "\n",
    }
    ended = _batch("ended", 1, 0)
    server = FakeAnthropic([ended, copy.deepcopy(ended), results])
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    try:
        report = generate_with_batches(project, 1, batch_size=1, echo=lambda _m: None)
    finally:
        server.stop()
    assert report.kept == 0 and sum(n for k, n in report.rejected.items() if k.startswith("gold_")) == 1


def test_a_gold_edit_between_iterations_breaks_no_comparison(root, cli):
    project = Project.open(root)
    for args in (["train", "hypothesis=first", "epochs=4"], ["eval"], ["promote"], ["commit"]):
        assert cli("tool", "run", *args, "-p", root).exit_code == 0
    rows = gold_rows(root)
    write_jsonl(
        root / "dataset" / "gold.jsonl", rows[:-2] + [chat("lights on in the attic please", '{"cmd": "lights_on"}')]
    )
    assert "changed since the best was measured" in cli("status", "-p", root).output
    for args in (["train", "hypothesis=second", "epochs=6"], ["eval"]):
        assert cli("tool", "run", *args, "-p", root).exit_code == 0
    refused = cli("tool", "run", "promote", "-p", root)
    assert refused.exit_code == 1 and "the comparison crosses a gold change" in refused.output
    promoted = cli("promote", "--accept-gold-change", "-p", root)
    assert promoted.exit_code == 0 and "new baseline on gold" in promoted.output
    best = project.read_state("best_score.json")
    assert best["new_gold_baseline"] and best["vs_previous"] is None and best["gold_hash"]
    hashes = [r["gold_hash"] for r in project.read_jsonl_state("experiments.jsonl")]
    assert len(hashes) == 2 and hashes[0] != hashes[1]
    cli("tool", "run", "commit", "-p", root)
    cli("report", "-p", root)
    html = (root / "output" / "report.html").read_text()
    assert "gold changed" in html and "The gold set changed before iteration 2" in html
    assert html.count('<polyline fill="none" stroke="#4c78a8"') == 2  # one line per gold set, none across


def test_the_sealed_score_reaches_people_but_never_the_planner(root, cli):
    """The sealed set's aggregates are recorded beside the gold score (experiments row, report) for people;
    the eval tool's text and the planner's context never carry them, nor any sealed input."""
    project = Project.open(root)
    quiet = dict(echo=lambda *_: None)
    assert not manual.call(project, "train", {"hypothesis": "a first model", "epochs": 1}, **quiet)[0].is_error
    result, _ = manual.call(project, "eval", {}, **quiet)
    assert not result.is_error and result.content.startswith("accuracy: ")
    assert "sealed" not in result.content and SEALED_INPUT not in result.content
    row = json.loads((root / "output" / "experiments.jsonl").read_text().splitlines()[-1])
    assert row["sealed"]["total"] == 1 and set(row["sealed"]) == {"accuracy", "correct", "total", "ci95"}
    context = (root / "AGENT_CONTEXT.md").read_text()
    assert "sealed" not in context.lower() and f"{row['sealed']['correct']}/1" not in context
    assert cli("report", "-p", root).exit_code == 0
    report = (root / "output" / "report.html").read_text()
    assert "<th>sealed</th>" in report and f"({row['sealed']['correct']}/1)" in report
