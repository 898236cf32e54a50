"""The output contract: one JSON Schema (eval.output_schema) checked on every training-set write, decoded
under in eval, scored field by field, shipped with the GGUF as a grammar, and part of what a best score
was measured under."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge.config import load as config_io
from forge.curation.audit import Finding, apply_fixes
from forge.curation.augment import plan
from forge.data.datasets import assistant_text, load_examples
from forge.data.output_schema import OutputSchema
from forge.data.schema_infer import infer_schema
from forge.errors import ForgeError
from forge.evaluation.promotion import PromotionRefused, promote
from forge.evaluation.runner import run_eval
from forge.evaluation.scorers import Scorer
from forge.inference.constrained import Constraint, answer_layout
from forge.inference.generate import generate
from forge.models.loading import load_causal_lm, load_tokenizer
from forge.models.tiny import build_tiny
from forge.project.project import Project
from forge.project.records import failure_categories
from forge.training.sft import train

from conftest import chat, write_jsonl
from engine_fixtures import COMMANDS, make_agent_project, make_project

QUIET = {"echo": lambda *_: None}
ROUTING = {
    "type": "object",
    "properties": {"cmd": {"enum": sorted(COMMANDS)}},
    "required": ["cmd"],
    "additionalProperties": False,
}
LIGHTS = {
    "anyOf": [
        {
            "type": "object",
            "properties": {
                "cmd": {"const": "lights_on"},
                "room": {"enum": ["kitchen", "hall"]},
                "minutes": {"type": "integer", "minimum": 1, "maximum": 120},
            },
            "required": ["cmd", "room"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"cmd": {"const": "weather"}},
            "required": ["cmd"],
            "additionalProperties": False,
        },
    ]
}


def with_schema(root: Path, schema: dict, name: str = "output_schema.json") -> Project:
    (root / name).write_text(json.dumps(schema))
    config_io.patch_file(root / "forge.yaml", {"eval": {"output_schema": name}})
    return Project.open(root)


def schema_of(tmp_path, schema: dict) -> OutputSchema:
    (tmp_path / "s.json").write_text(json.dumps(schema))
    return OutputSchema.load(tmp_path / "s.json", "s.json")


def test_a_bad_schema_file_is_one_line_naming_it(project_dir, cli):
    (project_dir / "output_schema.json").write_text('{\n  "type": "object",\n  "properties": {\n}}}')
    result = cli("config", "check", "-p", project_dir)
    assert result.exit_code == 1 and result.output == "Error: output_schema.json:4: not valid JSON (Extra data)\n"
    (project_dir / "output_schema.json").write_text('{"type": "objekt"}')
    result = cli("config", "check", "-p", project_dir)
    assert result.output.startswith("Error: output_schema.json: not a valid JSON Schema at type:")
    (project_dir / "output_schema.json").unlink()
    assert (
        cli("config", "check", "-p", project_dir).output == "Error: eval.output_schema: output_schema.json not found\n"
    )


def test_init_scaffolds_a_schema_the_config_names(project_dir):
    project = Project.open(project_dir)
    assert project.config.eval.output_schema == "output_schema.json"
    schema = project.output_schema()
    assert schema.keeps('{"cmd": "lights_on"}') and not schema.keeps('{"action": "x"}')


def test_violations_name_the_rule(tmp_path):
    schema = schema_of(tmp_path, LIGHTS)
    assert schema.check('{"cmd": "lights_on", "room": "kitchen"}') is None
    rule, why = schema.check('{"cmd": "lights_on", "room": "front"}')
    assert why.startswith("outside the schema: ") and "front" in why
    assert schema.check('{"cmd": "lights_on", "room": "hall", "minutes": 1.5}') is not None
    assert schema.check('{"cmd": "lights_on", "room": "hall", "door": 1}')[0] == "(top level): additionalProperties"
    assert schema.check('{"cmd": "lights_off"}') == (
        "cmd: anyOf",
        "outside the schema: cmd: 'lights_off' is none of the schema's cmds ['lights_on', 'weather']",
    )
    assert schema.check('{"cmd": ') == ("not JSON", "outside the schema: unparseable JSON (Expecting value)")


def test_call_scorer_compares_every_argument_by_value_and_type(tmp_path):
    score = Scorer("call", ignore_fields=["confidence"])
    want = '{"cmd": "timer", "minutes": 5, "room": "kitchen", "opts": {"loud": true}}'
    assert score(want, '{"room": "kitchen", "cmd": "timer", "opts": {"loud": true}, "minutes": 5}').correct
    assert score(want, want[:-1] + ', "confidence": 0.3}').correct  # an ignored field
    wrong = score(want, '{"cmd": "timer", "minutes": 5.0, "room": "hall", "opts": {"loud": 1}}')
    assert not wrong.correct and wrong.fields == ("minutes", "opts.loud", "room")
    assert wrong.reason == "wrong minutes (and 2 more)"
    missing = score(want, '{"cmd": "timer", "room": "kitchen", "opts": {"loud": true}, "door": "front"}')
    assert missing.fields == ("minutes", "door") and missing.reason.startswith("missing minutes")
    assert score(want, '{"cmd": "alarm", "minutes": 5}').reason == "wrong cmd 'alarm'"
    # under a schema, an answer outside it is wrong whatever the scorer
    outside = Scorer("json_cmd", schema=schema_of(tmp_path, LIGHTS))('{"cmd": "lights_on"}', '{"cmd": "lights_on"}')
    assert not outside.correct and outside.reason.startswith("outside the schema: ")


def test_infer_proposes_enums_types_and_required_keys_per_command():
    answers = [
        {"cmd": "lights_on", "room": r, "minutes": m}
        for r, m in [("kitchen", 5), ("hall", 10), ("kitchen", 2), ("hall", 1)]
    ]
    answers += [
        {"cmd": "lights_on", "room": "hall"},
        {"cmd": "weather", "city": "Paris", "days": 1.5},
        {"cmd": "weather", "city": "Oslo", "days": 2},
    ]
    schema = infer_schema([(f"x:{i}", a) for i, a in enumerate(answers)])
    on, weather = schema["anyOf"]
    assert list(on["properties"]) == ["cmd", "room", "minutes"] and on["properties"]["cmd"] == {"const": "lights_on"}
    assert on["properties"]["room"] == {"enum": ["kitchen", "hall"]} and on["properties"]["minutes"] == {
        "type": "integer"
    }
    assert on["required"] == ["cmd", "room"] and on["additionalProperties"] is False
    assert weather["properties"]["city"] == {"type": "string"}  # two cities seen once each: not a closed set
    assert weather["properties"]["days"] == {"type": "number"}


def test_infer_reads_the_training_set_never_gold(project_dir, cli):
    write_jsonl(
        project_dir / "dataset" / "canonical.jsonl",
        [chat(f"q{i}", json.dumps({"cmd": c})) for i, c in enumerate(["a", "b", "a", "b"])],
    )
    write_jsonl(project_dir / "dataset" / "gold.jsonl", [chat("g", json.dumps({"cmd": "gold_only"}))])
    result = cli("schema", "infer", "-p", project_dir)
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert [b["properties"]["cmd"]["const"] for b in schema["anyOf"]] == ["a", "b"]
    assert "gold_only" not in result.stdout
    write_jsonl(project_dir / "dataset" / "canonical.jsonl", [chat("q", "not json")])
    assert cli("schema", "infer", "-p", project_dir).output.startswith("Error: dataset/canonical.jsonl:1: the answer")


def test_every_training_set_write_rejects_answers_outside_the_schema(tmp_path, nano_model, cli):
    root = make_agent_project(tmp_path / "p", nano_model, dataset={"generator_mode": "always"})
    project = with_schema(root, ROUTING)
    before = len(load_examples(project.canonical_path))
    # import
    write_jsonl(
        tmp_path / "in.jsonl",
        [
            chat("brand new one", '{"cmd": "lights_on"}'),
            chat("brand new two", '{"cmd": "dance"}'),
            chat("three", '{"cmd": '),
        ],
    )
    result = cli("import", tmp_path / "in.jsonl", "-p", root)
    assert "kept: 1" in result.output and "schema_rejected: 2" in result.output
    assert "schema_rejected (cmd: enum): 1" in result.output and "schema_rejected (not JSON): 1" in result.output
    # generate, augment and patch all write through the generator here; its answers keep only some commands
    narrow = {"type": "object", "properties": {"cmd": {"enum": ["weather"]}}, "required": ["cmd"]}
    project = with_schema(root, narrow, "narrow.json")
    for args in (["generate", "--n", "40"], ["patch", "lights please", "--n", "20"]):
        shown = cli(*args, "-p", root).output
        assert "rejected_outside_schema (cmd: enum):" in shown, shown
    answers = {assistant_text(e) for e in load_examples(project.canonical_path)[before + 1 :]}
    assert answers == {'{"cmd": "weather"}'}
    # audit fixes
    examples = load_examples(project.canonical_path)
    findings = [Finding(0, "error", "x", {"user": "fixed question", "assistant": '{"cmd": "dance"}'})]
    assert apply_fixes(project, examples, findings, "warning") == 0
    assert findings[0].fixed.startswith("fix rejected: outside the schema: cmd:")


def test_clean_schema_and_config_check_report_answers_outside(project_dir, cli):
    write_jsonl(project_dir / "dataset" / "canonical.jsonl", [chat("q1", '{"cmd": "a"}'), chat("q2", '{"x": 1}')])
    write_jsonl(project_dir / "dataset" / "gold.jsonl", [chat("g1", '{"cmd": "a"}'), chat("g2", '"just text"')])
    check = cli("config", "check", "-p", project_dir)
    assert check.exit_code == 1 and "1 gold answers outside it" in check.output
    assert "dataset/gold.jsonl:2: outside the schema: (top level):" in check.output
    status = cli("status", "-p", project_dir).output
    assert "Contract:" in status and "1 gold answer(s) outside it" in status
    cleaned = cli("clean", "--schema", "-p", project_dir)
    assert "removed dataset/canonical.jsonl:2: outside the schema" in cleaned.output
    assert "removed_outside_schema: 1 (backup: output/backups/" in cleaned.output
    assert [assistant_text(e) for e in load_examples(project_dir / "dataset" / "canonical.jsonl")] == ['{"cmd": "a"}']
    assert load_examples(project_dir / "dataset" / "gold.jsonl")[1]["messages"][1]["content"] == '"just text"'


@pytest.fixture(scope="module")
def random_llama(tmp_path_factory):
    path = tmp_path_factory.mktemp("random") / "llama"
    build_tiny(path, arch="llama", size="tiny")
    return load_causal_lm(str(path), "cpu"), load_tokenizer(str(path))


def test_constrained_generation_is_schema_valid_batched_and_left_padded(random_llama, tmp_path):
    model, tok = random_llama
    schema = schema_of(tmp_path, LIGHTS)
    prompts = [
        tok.apply_chat_template([{"role": "user", "content": "x " * n}], tokenize=False, add_generation_prompt=True)
        for n in (1, 7, 3, 12, 5)
    ]
    free = generate(model, tok, prompts, 40, 4, "cpu")
    assert not any(schema.keeps(a) for a in free)  # an untrained model says nothing in the contract
    for layout in ("json.dumps", "compact"):
        answers = generate(model, tok, prompts, 96, 4, "cpu", None, Constraint(LIGHTS, tok, layout))
        assert all(schema.keeps(a) for a in answers), answers
        assert all(
            json.dumps(json.loads(a), **({} if layout == "json.dumps" else {"separators": (",", ":")})) == a
            for a in answers
        )
    alone = [generate(model, tok, [p], 96, 1, "cpu", None, Constraint(LIGHTS, tok))[0] for p in prompts]
    assert alone == generate(model, tok, prompts, 96, 4, "cpu", None, Constraint(LIGHTS, tok))


def test_answer_layout_follows_the_training_set():
    assert answer_layout(['{"cmd": "a", "n": 1}', '{"cmd": "b"}']) == "json.dumps"
    assert answer_layout(['{"cmd":"a","n":1}']) == "compact"
    assert answer_layout(['{\n  "cmd": "a"\n}']) == answer_layout(['{"cmd": "a"}', '{"cmd":"b","n":1}']) == "flexible"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, nano_model):
    root = make_project(tmp_path_factory.mktemp("schema") / "p", nano_model)
    project = Project.open(root)
    train(project, **QUIET)
    return with_schema(root, ROUTING)


def test_eval_decodes_under_the_schema_and_records_it(trained, cli):
    result = cli("eval", "--compare-free", "--json", "-p", trained.root)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["constrained"] is True and info["schema_valid"] == 1.0
    assert 0 <= info["free_accuracy"] <= 1
    saved = json.loads((trained.output / "eval_results.json").read_text())
    assert saved["schema"] == {"path": "output_schema.json", "hash": trained.output_schema().hash}
    assert saved["free"]["total"] == 16 and saved["free"]["schema_valid"] is not None
    config_io.patch_file(trained.root / "forge.yaml", {"eval": {"constrained": False}})
    free = run_eval(Project.open(trained.root))
    assert free.constrained is False and free.schema_valid <= 1.0 and free.free is None
    assert "free" not in free.as_record()
    config_io.patch_file(trained.root / "forge.yaml", {"eval": {"constrained": "auto"}})


def test_a_schema_change_is_flagged_before_promote(trained):
    project = Project.open(trained.root)
    run_eval(project)
    promote(project)
    looser = {**ROUTING, "properties": {"cmd": {"type": "string"}}}
    project = with_schema(project.root, looser)
    with pytest.raises(PromotionRefused, match="the output schema changed since the last eval"):
        promote(project)
    run_eval(project)
    with pytest.raises(PromotionRefused, match="measured under another output schema"):
        promote(project)
    assert promote(project, accept_gold_change=True)["new_gold_baseline"] is True
    with_schema(project.root, ROUTING)


def test_field_level_failures_become_augment_categories(tmp_path, nano_model):
    project = Project.open(make_project(tmp_path / "p", nano_model, eval={"scorer": "call"}))
    score = Scorer.for_project(project)
    rows = []
    for expected, actual in [
        ('{"cmd": "lights_on", "room": "hall"}', '{"cmd": "lights_on", "room": "kitchen"}'),
        ('{"cmd": "lights_on", "room": "hall"}', '{"cmd": "lights_on"}'),
        ('{"cmd": "weather"}', '{"cmd": "lights_on"}'),
    ]:
        rows.append({"input": "i", "expected": expected, "actual": actual, "reason": score(expected, actual).reason})
    write_jsonl(project.output / "eval_failures.jsonl", rows)
    cats = failure_categories(project)
    assert "inputs whose correct cmd is 'lights_on'; the model failed with: wrong room" in cats
    assert "inputs whose correct cmd is 'lights_on'; the model failed with: missing room" in cats
    assert any(c.endswith("(it answered cmd 'lights_on' instead)") for c in plan(project))


def test_the_gguf_ships_its_grammar_and_llama_cpp_decodes_under_it(trained, cli):
    from llama_cpp import Llama, LlamaGrammar

    result = cli(
        "export",
        "--format",
        "gguf",
        "--quant",
        "f32",
        "--verify",
        "--adapter",
        trained.output / "adapter",
        "-p",
        trained.root,
    )
    assert result.exit_code == 0, result.output
    out = trained.output / "export_gguf_f32"
    assert "verify_constrained: True" in result.output and "verify_gold_gguf: " in result.output
    assert json.loads((out / "p-f32.schema.json").read_text()) == ROUTING
    assert "--grammar-file p-f32.gbnf" in (out / "Modelfile").read_text()
    verify = json.loads((out / "verify.json").read_text())
    assert verify["passed"] and verify["gguf_correct"] >= verify["transformers_correct"] - verify["near_ties"]
    grammar = LlamaGrammar.from_file(out / "p-f32.gbnf", verbose=False)
    llm = Llama(model_path=str(out / "p-f32.gguf"), n_ctx=256, verbose=False)
    try:
        text = llm("nonsense that the model never saw", max_tokens=24, temperature=0.0, grammar=grammar)
    finally:
        llm.close()
    assert trained.output_schema().keeps(text["choices"][0]["text"]), text
    # `forge predict --gguf`: the shipped file answers requests under the grammar beside it.
    requests = trained.root / "requests.jsonl"
    write_jsonl(requests, [{"messages": [{"role": "user", "content": q}]} for q in ("zzz qqq", "lights?", "??")])
    predicted = cli("predict", requests, "--gguf", out / "p-f32.gguf", "-p", trained.root)
    assert predicted.exit_code == 0, predicted.output
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(rows) == 3 and all(trained.output_schema().keeps(r["messages"][-1]["content"]) for r in rows), rows


def test_constrained_needs_a_schema(project_dir):
    config_io.patch_file(project_dir / "forge.yaml", {"eval": {"output_schema": None, "constrained": True}})
    from forge.inference.constrained import project_constraint

    with pytest.raises(ForgeError, match="eval.constrained: true needs eval.output_schema"):
        project_constraint(Project.open(project_dir), None)


def test_both_engines_decode_keys_in_one_order(random_llama):
    """llama.cpp's grammar puts required properties first; forge decodes in the same order, so the answers it
    scores are the ones llama.cpp can produce."""
    from forge.inference.constrained import decoding_order
    from forge.inference.gbnf import gbnf

    model, tok = random_llama
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["cmd", "degrees"],
        "properties": {
            "cmd": {"const": "heat"},
            "room": {"enum": ["hall"]},
            "degrees": {"type": "integer", "minimum": 10, "maximum": 30},
        },
    }
    assert list(decoding_order(schema)["properties"]) == ["cmd", "degrees", "room"]
    open_ended = {"type": "object", "properties": {"cmd": {"type": "string"}}}
    assert decoding_order(open_ended)["additionalProperties"] is False  # as llama.cpp's converter reads it
    assert "additional" not in gbnf(open_ended)
    assert gbnf(schema).index('"\\"degrees\\""') < gbnf(schema).index('"\\"room\\""')
    prompts = [
        tok.apply_chat_template([{"role": "user", "content": "x " * n}], tokenize=False, add_generation_prompt=True)
        for n in (1, 6, 2)
    ]
    for answer in generate(model, tok, prompts, 96, 3, "cpu", None, Constraint(schema, tok)):
        keys = list(json.loads(answer))
        assert keys[:2] == ["cmd", "degrees"], answer


LIGHT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "set_light",
            "description": "Switch a room's light.",
            "parameters": {
                "type": "object",
                "properties": {"room": {"enum": ["kitchen", "hall"]}, "on": {"type": "boolean"}},
                "required": ["room", "on"],
                "additionalProperties": False,
            },
        },
    },
    {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"day": {"enum": ["today", "tomorrow"]}}, "required": ["day"]},
    },
]


def test_an_examples_tools_are_the_schema_of_its_call(project_dir):
    from forge.data.datasets import append_examples
    from forge.data.output_schema import schema_for, tools_schema

    contract = tools_schema(LIGHT_TOOLS)
    assert contract.keeps('{"name": "set_light", "arguments": {"room": "hall", "on": true}}')
    assert contract.keeps('{"name": "get_weather", "arguments": {"day": "today"}}')
    assert "room" in contract.violation('{"name": "set_light", "arguments": {"room": "attic", "on": true}}')
    assert not contract.keeps('{"name": "set_light", "arguments": {"room": "hall", "on": "yes"}}')
    assert not contract.keeps('{"name": "play_music", "arguments": {}}')
    assert not contract.keeps('{"cmd": "a"}')
    with pytest.raises(ForgeError, match=r'tools\[0\]: a function definition needs a "name"'):
        tools_schema([{"parameters": {}}])
    project = Project.open(project_dir)
    schema = project.output_schema()
    plain = chat("route me", '{"cmd": "a"}')
    assert schema_for(plain, schema) is schema and schema_for({**plain, "tools": LIGHT_TOOLS}, schema) is contract
    # The write path: a tool example is held to its tools, not to the project's schema, and counted by the rule.
    rows = [
        {
            **chat("kitchen light on", '{"name": "set_light", "arguments": {"room": "kitchen", "on": true}}'),
            "tools": LIGHT_TOOLS,
        },
        {
            **chat("attic light on", '{"name": "set_light", "arguments": {"room": "attic", "on": true}}'),
            "tools": LIGHT_TOOLS,
        },
        {**chat("is it sunny", '{"cmd": "a"}'), "tools": LIGHT_TOOLS},
        chat("plain route", '{"cmd": "a"}'),
    ]
    result = append_examples(project.canonical_path, rows, project.gold_guard(), schema=schema)
    assert result.kept == 2 and result.schema_rejected == {"arguments/room: enum": 1, "(top level): anyOf": 1}, result


def test_one_batch_decodes_each_row_under_its_own_contract(random_llama, tmp_path):
    from forge.data.output_schema import tools_schema

    model, tok = random_llama
    lights, tools = schema_of(tmp_path, LIGHTS), tools_schema(LIGHT_TOOLS)
    prompts = [
        tok.apply_chat_template([{"role": "user", "content": "y " * n}], tokenize=False, add_generation_prompt=True)
        for n in (2, 9, 4, 6)
    ]
    per_row = [Constraint(LIGHTS, tok), Constraint(tools.schema, tok), None, Constraint(tools.schema, tok)]
    answers = generate(model, tok, prompts, 96, 4, "cpu", None, per_row)
    assert lights.keeps(answers[0]) and tools.keeps(answers[1]) and tools.keeps(answers[3]), answers
    # the free row stays free (a text reply keeps the tools' contract unless tool_choice is required)
    assert not lights.keeps(answers[2]) and not tools_schema(LIGHT_TOOLS, "required").keeps(answers[2])
    assert answers[2] == generate(model, tok, [prompts[2]], 96, 1, "cpu")[0]
    scorer = Scorer("call", schema=lights)
    want = '{"name": "set_light", "arguments": {"room": "hall", "on": true}}'
    assert scorer(want, want).correct is False and scorer(want, want, tools).correct  # the example's contract
    assert scorer(want, '{"name": "set_light", "arguments": {"room": "hall", "on": false}}', tools).fields == (
        "arguments.on",
    )
