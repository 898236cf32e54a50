"""Tool-calling conversations as users bring them: OpenAI's chat format (tool_calls, tool results), LLaMA-Factory's
ShareGPT function turns and Hermes text, imported into one shape; rendered through forge's tool template on bases
without tools support; decoded under the tools' contract; scored by function and argument."""

from __future__ import annotations

import json

import pytest
from test_chat_templates import CONVERSATION, TEMPLATES

from forge.data.datasets import assistant_text, load_examples, user_text
from forge.data.formats import read_file
from forge.data.output_schema import schema_for
from forge.data.tool_calls import answer_of_generation
from forge.errors import DatasetError, ForgeError
from forge.evaluation.scorers import Scorer
from forge.models.chat_format import prompt_text, tokenize_for_training, with_system_prompt

from conftest import write_jsonl

LIGHTS = {
    "type": "function",
    "function": {
        "name": "toggle_lights",
        "description": "Switch the lights of a room",
        "parameters": {
            "type": "object",
            "properties": {"room": {"type": "string", "enum": ["kitchen", "hall"]}, "on": {"type": "boolean"}},
            "required": ["room", "on"],
        },
    },
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
OPENAI = {
    "tools": [LIGHTS, WEATHER],
    "messages": [
        {"role": "system", "content": "You run the house."},
        {"role": "user", "content": "Kitchen lights on, and the weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "toggle_lights", "arguments": '{"room": "kitchen", "on": true}'},
                },
                {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "tool", "tool_call_id": "c2", "content": "4C, rain"},
        {"role": "assistant", "content": "Done; 4C and rain in Oslo."},
        {"role": "user", "content": "Now the hall, off."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c3",
                    "type": "function",
                    "function": {"name": "toggle_lights", "arguments": {"room": "hall", "on": False}},
                }
            ],
        },
    ],
}


def _read(tmp_path, rows, fmt="auto"):
    src = tmp_path / "in.jsonl"
    write_jsonl(src, rows)
    return read_file(src, "in.jsonl", fmt)


def test_openai_conversations_import_with_their_calls_and_results(project_dir, cli, tmp_path):
    src = tmp_path / "train.jsonl"
    write_jsonl(src, [OPENAI])
    result = cli("import", src, "-p", project_dir)
    assert "kept: 1" in result.output, result.output
    [ex] = load_examples(project_dir / "dataset" / "canonical.jsonl")
    calls = ex["messages"][2]["tool_calls"]
    assert ex["messages"][2]["content"] == ""  # null content of a calling turn
    assert calls[0]["function"]["arguments"] == {"room": "kitchen", "on": True}  # the JSON string read
    assert calls[1]["id"] == "c2" and ex["messages"][3]["tool_call_id"] == "c1"
    assert json.loads(assistant_text(ex)) == {"name": "toggle_lights", "arguments": {"room": "hall", "on": False}}
    assert "4C, rain" in user_text(ex)  # tool results are part of the input (dedupe, gold guard)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            lambda m: m[2]["tool_calls"][0]["function"].update(name="open_door"),
            "in.jsonl:1: messages[2] calls 'open_door', which is not in the example's tools (get_weather, toggle_lights)",
        ),
        (
            lambda m: m[2]["tool_calls"][0]["function"].update(arguments="[1, 2]"),
            "in.jsonl:1: messages[2].tool_calls[0] (toggle_lights): arguments must be a JSON object, got list",
        ),
        (
            lambda m: m[2]["tool_calls"][0]["function"].update(arguments="{room: kitchen}"),
            "in.jsonl:1: messages[2].tool_calls[0] (toggle_lights): arguments are not valid JSON",
        ),
        (lambda m: m.pop(2), "in.jsonl:1: messages[2]: a tool result with no assistant tool call before it"),
    ],
)
def test_each_broken_call_is_one_line_naming_file_line_and_message(tmp_path, change, error):
    row = json.loads(json.dumps(OPENAI))
    change(row["messages"])
    src = tmp_path / "in.jsonl"
    write_jsonl(src, [row])
    with pytest.raises(DatasetError) as info:
        load_examples(src, "in.jsonl")
    assert str(info.value).startswith(error)


def test_calls_without_tools_are_refused(tmp_path):
    row = {k: v for k, v in OPENAI.items() if k != "tools"}
    src = tmp_path / "in.jsonl"
    write_jsonl(src, [row])
    with pytest.raises(DatasetError, match=r"in.jsonl:1: messages\[2\] calls 'toggle_lights' but the example has no"):
        load_examples(src, "in.jsonl")


def test_llama_factory_sharegpt_function_turns(tmp_path):
    row = {
        "tools": json.dumps([LIGHTS["function"]]),
        "system": "You run the house.",
        "conversations": [
            {"from": "human", "value": "kitchen lights on"},
            {
                "from": "function_call",
                "value": json.dumps({"name": "toggle_lights", "arguments": {"room": "kitchen", "on": True}}),
            },
            {"from": "observation", "value": "ok"},
            {"from": "gpt", "value": "Done."},
            {"from": "human", "value": "and the hall"},
            {
                "from": "function_call",
                "value": json.dumps([{"name": "toggle_lights", "arguments": {"room": "hall", "on": True}}]),
            },
        ],
    }
    fmt, [(_, ex)] = _read(tmp_path, [row])
    assert fmt == "sharegpt"
    assert [m["role"] for m in ex["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
    ]
    assert ex["tools"] == [LIGHTS["function"]]
    assert ex["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"room": "kitchen", "on": True}


def test_hermes_text_is_read_into_calls(tmp_path):
    system = "You are a function calling AI model. <tools>\n" + json.dumps(LIGHTS["function"]) + "\n</tools>"
    row = {
        "conversations": [
            {"from": "system", "value": system},
            {"from": "human", "value": "kitchen lights on"},
            {
                "from": "gpt",
                "value": '<tool_call>\n{"name": "toggle_lights", "arguments": {"room": "kitchen", "on": true}}'
                "\n</tool_call>",
            },
            {"from": "tool", "value": "<tool_response>\nok\n</tool_response>"},
            {"from": "gpt", "value": "Done."},
        ]
    }
    fmt, [(_, ex)] = _read(tmp_path, [row])
    assert fmt == "hermes"
    assert ex["tools"] == [LIGHTS["function"]]
    assert ex["messages"][0] == {"role": "system", "content": "You are a function calling AI model."}
    assert ex["messages"][2]["tool_calls"][0]["function"]["name"] == "toggle_lights"
    assert ex["messages"][3]["content"] == "ok"


@pytest.mark.parametrize("name", TEMPLATES)
def test_bases_without_tools_get_a_template_that_keeps_their_turns(real_tokenizer, name):
    """forge's tool template renders a conversation without tools exactly as the base's own template does, and
    the text trained on is the prompt evaluated plus the answer, history calls and results included."""
    from forge.models.tool_template import tool_template

    template, _eot, extra = TEMPLATES[name]
    tok = real_tokenizer()
    if template:
        tok.chat_template = template
    tok.add_special_tokens({"additional_special_tokens": extra}) if extra else None
    own = tool_template(tok)
    assert own is not None
    for gen in (False, True):
        assert tok.apply_chat_template(
            CONVERSATION, tokenize=False, add_generation_prompt=gen, chat_template=own
        ) == tok.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=gen)
    messages = with_system_prompt(load_examples_from(OPENAI), "You run the house.")
    row = tokenize_for_training(tok, messages, 4096, OPENAI["tools"])
    prompt = prompt_text(tok, messages, OPENAI["tools"])
    trained = tok.decode(row["input_ids"])
    assert trained.startswith(prompt)
    answer = trained[len(prompt) :]
    assert answer.startswith(
        '<tool_call>\n{"name": "toggle_lights", "arguments": {"room": "hall", "on": false}}\n</tool_call>'
    )
    assert answer_of_generation(answer.split("</tool_call>")[0] + "</tool_call>") == assistant_text(
        load_examples_from(OPENAI)
    )
    cut = answer.split("</tool_call>")[0] + '</tool_call>\n<tool_call>\n{"name": "get_we'
    assert answer_of_generation(cut) == cut  # a block left open is the broken answer it is, not one call
    assert "<tool_response>\n4C, rain\n</tool_response>" in prompt and '"name": "get_weather"' in prompt
    learned = tok.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100])
    assert "Done; 4C and rain in Oslo." in learned and "Kitchen lights" not in learned  # every assistant turn
    last = tokenize_for_training(tok, messages, 4096, OPENAI["tools"], last_only=True)
    only = tok.decode([t for t, label in zip(last["input_ids"], last["labels"], strict=True) if label != -100])
    assert only.startswith("<tool_call>") and "Done;" not in only


def load_examples_from(row: dict) -> dict:
    from forge.data.datasets import normalized

    return normalized(row)


@pytest.fixture(scope="module")
def real_tokenizer(smollm2):
    from transformers import AutoTokenizer

    return lambda: AutoTokenizer.from_pretrained(str(smollm2))


def _call(name, **args):
    return json.dumps({"name": name, "arguments": args})


@pytest.mark.parametrize(
    ("expected", "actual", "correct", "reason"),
    [
        (
            _call("toggle_lights", room="hall", on=True),
            _call("toggle_lights", room="kitchen", on=True),
            False,
            "wrong room",
        ),
        (
            _call("toggle_lights", room="hall", on=True),
            _call("get_weather", city="Oslo"),
            False,
            "wrong name 'get_weather'",
        ),
        (
            f"[{_call('get_weather', city='Oslo')}, {_call('toggle_lights', room='hall', on=True)}]",
            f"[{_call('toggle_lights', room='hall', on=True)}, {_call('get_weather', city='Oslo')}]",
            True,
            None,
        ),
        (
            f"[{_call('get_weather', city='Oslo')}, {_call('get_weather', city='Rome')}]",
            f"[{_call('get_weather', city='Rome')}, {_call('get_weather', city='Paris')}]",
            False,
            "wrong city",
        ),
        (
            f"[{_call('get_weather', city='Oslo')}, {_call('get_weather', city='Rome')}]",
            _call("get_weather", city="Oslo"),
            False,
            "1 calls where 2 fit",
        ),
        ("I can only run the house.", "Sorry, that is not something I can do.", True, None),
        ("I can only run the house.", _call("get_weather", city="Oslo"), False, "made a call where none fits"),
        (_call("get_weather", city="Oslo"), "Let me check.", False, "made no call"),
    ],
)
def test_calls_are_scored_by_function_and_argument(expected, actual, correct, reason):
    verdict = Scorer("call")(expected, actual)
    assert verdict.correct is correct
    if reason:
        assert verdict.reason == reason


def test_failure_categories_name_the_function_and_the_argument(project_dir):
    from forge.project.project import Project
    from forge.project.records import FAILURES, failure_categories

    project = Project.open(project_dir)
    verdict = Scorer("call")(
        _call("toggle_lights", room="hall", on=True), _call("toggle_lights", room="kitchen", on=True)
    )
    rows = [
        {
            "expected": _call("toggle_lights", room="hall", on=True),
            "actual": _call("toggle_lights", room="kitchen", on=True),
            "reason": verdict.reason,
        },
        {
            "expected": _call("toggle_lights", room="hall", on=True),
            "actual": _call("get_weather", city="x"),
            "reason": "wrong name 'get_weather'",
        },
    ]
    write_jsonl(project.output / FAILURES, rows)
    cats = failure_categories(project)
    assert cats["inputs whose correct function is 'toggle_lights'; the model failed with: wrong room"] == 1
    assert (
        cats[
            "inputs whose correct function is 'toggle_lights'; the model failed with: wrong name "
            "(it answered function 'get_weather' instead)"
        ]
        == 1
    )
    from forge.curation.augment import plan

    assert "inputs whose correct function is 'toggle_lights'; the model failed with: wrong room" in plan(project, 4)


def test_the_contract_of_a_turn_follows_tool_choice():
    ex = load_examples_from(OPENAI)
    auto = schema_for(ex, None)
    assert auto.keeps(_call("get_weather", city="Oslo"))
    assert auto.keeps(f"[{_call('get_weather', city='Oslo')}, {_call('toggle_lights', room='hall', on=True)}]")
    assert auto.keeps("No function fits that.")
    assert "room" in auto.violation(_call("toggle_lights", room="attic", on=True))
    assert auto.violation(_call("open_door"))
    assert "required" in schema_for({**ex, "tool_choice": "required"}, None).violation("No function fits.")
    assert "none" in schema_for({**ex, "tool_choice": "none"}, None).violation(_call("get_weather", city="Oslo"))


def test_decoding_under_the_tools_allows_calls_of_the_tools_only(real_tokenizer):
    import llguidance
    import llguidance.hf

    from forge.inference.constrained import Constraint

    tok = real_tokenizer()
    contract = schema_for(load_examples_from(OPENAI), None)
    grammar = Constraint(contract.call_schema, tok, "json.dumps", "auto").grammar
    lltok = llguidance.hf.from_tokenizer(tok, n_vocab=len(tok), eos_token=[tok.eos_token_id])

    def accepts(text: str) -> bool:
        matcher = llguidance.LLMatcher(lltok, grammar, log_level=0)
        return (
            all(matcher.consume_token(t) for t in tok(text, add_special_tokens=False)["input_ids"])
            and matcher.is_accepting()
        )

    one = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
    assert accepts(one) and accepts(one + "\n" + one) and accepts("No function fits that.")
    assert not accepts('<tool_call>\n{"name": "open_door", "arguments": {}}\n</tool_call>')
    assert not accepts('<tool_call>\n{"name": "get_weather", "arguments": {"town": "Oslo"}}\n</tool_call>')


def test_bfcl_parameter_types_are_read_as_json_schema_in_one_line(project_dir, cli, tmp_path):
    """BFCL/Gorilla write `dict`, `float`, `tuple`, `any`: read as object, number, array, any value, and said."""
    fn = {
        "name": "book_flight",
        "parameters": {
            "type": "dict",
            "required": ["price"],
            "properties": {
                "price": {"type": "float"},
                "legs": {"type": "tuple", "items": {"type": "string"}},
                "meta": {"type": "any"},
            },
        },
    }
    row = {
        "tools": [fn],
        "messages": [
            {"role": "user", "content": "book it for 99.5"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "type": "function",
                        "function": {
                            "name": "book_flight",
                            "arguments": {"price": 99.5, "legs": ["OSL", "RMA"], "meta": 3},
                        },
                    }
                ],
            },
        ],
    }
    src = tmp_path / "bfcl.jsonl"
    write_jsonl(src, [row])
    result = cli("import", src, "-p", project_dir)
    assert "kept: 1" in result.output, result.output
    assert (
        "tool parameter types read as JSON Schema's (BFCL/Gorilla names): any -> any value, dict -> object, "
        "float -> number, tuple -> array"
    ) in result.output
    contract = schema_for(load_examples_from(row), None)
    assert "price" in contract.violation('{"name": "book_flight", "arguments": {"price": "cheap"}}')


def test_an_optional_argument_left_at_its_default_may_be_omitted():
    fn = {
        "name": "search",
        "parameters": {
            "type": "object",
            "required": ["q"],
            "properties": {"q": {"type": "string"}, "limit": {"type": "integer", "default": 10}},
        },
    }
    own = schema_for({"tools": [fn], "messages": []}, None)
    scorer = Scorer("call")
    assert scorer(
        '{"name": "search", "arguments": {"q": "x", "limit": 10}}', '{"name": "search", "arguments": {"q": "x"}}', own
    ).correct
    assert not scorer(
        '{"name": "search", "arguments": {"q": "x", "limit": 5}}', '{"name": "search", "arguments": {"q": "x"}}', own
    ).correct


def test_eval_tool_choice_holds_training_writes_and_an_example_overrides_it(project_dir, cli, tmp_path):
    from forge.config import load as config_io

    config_io.patch_file(project_dir / "forge.yaml", {"eval": {"tool_choice": "required"}})
    reply = {
        "tools": [WEATHER],
        "messages": [
            {"role": "user", "content": "sing me a song"},
            {"role": "assistant", "content": "I can only look up the weather."},
        ],
    }
    src = tmp_path / "in.jsonl"
    write_jsonl(
        src,
        [
            reply,
            {
                **reply,
                "tool_choice": "auto",
                "messages": [{"role": "user", "content": "tell a joke"}, reply["messages"][1]],
            },
        ],
    )
    result = cli("import", src, "-p", project_dir)
    assert "kept: 1" in result.output and "schema_rejected (tool_choice: required): 1" in result.output


def test_the_shipped_grammar_enforces_the_schema_or_export_names_the_keyword():
    """llama-cpp-python's converter reads no rule from maxProperties (an exported GGUF answered `{"": ""}` args
    where the schema allowed none) nor from minimum/maximum: bounded integers become their enum, the rest is
    refused by name."""
    from llama_cpp import LlamaGrammar

    from forge.errors import ForgeError
    from forge.inference.gbnf import gbnf

    empty_args = {
        "type": "object",
        "required": ["cmd", "args"],
        "properties": {"cmd": {"enum": ["rtl", "stop"]}, "args": {"type": "object", "maxProperties": 0}},
    }
    with pytest.raises(ForgeError, match="the output schema at /args: maxProperties: llama.cpp's grammar would not"):
        gbnf(empty_args)
    with pytest.raises(ForgeError, match="/price: minimum"):
        gbnf({"type": "object", "properties": {"price": {"type": "number", "minimum": 0}}})
    grammar = gbnf(
        {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 12}}},
        "json.dumps",
    )
    assert LlamaGrammar.from_string(grammar, verbose=False)
    assert '"12"' in grammar and '"13"' not in grammar and '"2"' not in grammar


def test_the_tools_demo_data_holds_together():
    """examples/forge-tools-demo: its hand-written sets load as tool conversations, and its generator writes valid
    ones whose inputs are none of the gold or sealed ones."""
    from pathlib import Path

    from forge.data.datasets import example_problem, normalize, normalized
    from forge.project.code import load_function

    demo = Path(__file__).resolve().parents[1] / "examples" / "forge-tools-demo"
    sets = {name: load_examples(demo / "dataset" / f"{name}.jsonl") for name in ("seed", "gold", "sealed")}
    assert (len(sets["gold"]), len(sets["sealed"])) == (64, 24)
    finals = [e["messages"][-1] for e in sets["gold"]]
    assert sum(len(m.get("tool_calls") or ()) > 1 for m in finals) >= 8  # parallel calls
    assert sum(not m.get("tool_calls") for m in finals) >= 8  # text replies: nothing fits, or a question
    generate = load_function(demo / "generator.py", "generator.py", "generate", "generate(n, focus, seed)")
    made = [normalized(e) for e in generate(200, None, 7)]
    assert len(made) == 200 and not [p for e in made if (p := example_problem(e))]
    held_out = {normalize(user_text(e)) for e in sets["gold"] + sets["sealed"]}
    assert not [e for e in made if normalize(user_text(e)) in held_out]


def test_calls_decode_as_the_training_set_writes_them(project_dir, real_tokenizer):
    """A task whose data writes each call as JSON text in the answer (forge's shape before tool_calls) keeps its JSON
    grammar; one whose data writes tool_calls decodes <tool_call> blocks."""
    from forge.inference.constrained import example_constraints
    from forge.project.project import Project

    as_text = {
        "tools": [WEATHER],
        "messages": [
            {"role": "user", "content": "weather in Oslo?"},
            {"role": "assistant", "content": _call("get_weather", city="Oslo")},
        ],
    }
    write_jsonl(project_dir / "dataset" / "canonical.jsonl", [as_text])
    project = Project.open(project_dir)
    [json_only] = example_constraints(project, real_tokenizer(), [as_text])
    assert "start: %json" in json_only.grammar and "<tool_call>" not in json_only.grammar
    write_jsonl(project_dir / "dataset" / "canonical.jsonl", [load_examples_from(OPENAI)])
    [hermes] = example_constraints(project, real_tokenizer(), [as_text])
    assert "start: calls | reply" in hermes.grammar and "<tool_call>" in hermes.grammar


def test_eval_server_asks_as_applications_do_and_scores_the_tool_calls(tmp_path, nano_model):
    """`forge eval --server`: each gold conversation goes to the chat completions API with its tools (OpenAI's
    shape, arguments as JSON text); replies are read from tool_calls (or text) and scored as eval scores them,
    beside the last eval's verdicts. An unreachable or failing server is one line."""
    from forge.data.datasets import example_id
    from forge.evaluation.served import served_eval
    from forge.project.project import Project

    from engine_fixtures import make_project, tool_examples
    from local_http import JsonHandler, start

    root = make_project(tmp_path / "p", nano_model, eval={"scorer": "call"})
    gold = tool_examples(4, seed=3)
    write_jsonl(root / "dataset" / "gold.jsonl", gold)
    project = Project.open(root)
    seen: list[dict] = []
    expected = {
        [m for m in e["messages"] if m["role"] == "user"][-1]["content"]: e["messages"][-1]["tool_calls"] for e in gold
    }

    class Server(JsonHandler):
        def do_POST(self):
            body = json.loads(self.read_body())
            seen.append(body)
            calls = expected[body["messages"][-1]["content"]]
            n = len(seen)
            if n == 1:  # a text reply where a call is expected
                message = {"role": "assistant", "content": "Which room?"}
            elif n == 2:  # the right call, arguments as JSON text, as OpenAI servers write them
                message = {"role": "assistant", "content": None, "tool_calls": calls}
            else:  # the right function with an argument it must not have
                wrong = [
                    {**c, "function": {**c["function"], "arguments": json.dumps({"room": "attic"})}} for c in calls
                ]
                message = {"role": "assistant", "content": "", "tool_calls": wrong}
            self.send_json(200, {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

    server, url = start(Server)
    try:
        (project.output).mkdir(exist_ok=True)
        (project.output / "eval_results.json").write_text(
            json.dumps({"per_example": {example_id(e): True for e in gold}})
        )
        res = served_eval(project, url)
    finally:
        server.shutdown()
    assert (res["correct"], res["total"], res["tool_call_replies"]) == (1, 4, 3)
    assert res["answers"][0] == "Which room?" and json.loads(res["answers"][1])["name"] == calls_name(gold[1])
    assert res["differ"] == [example_id(e) for n, e in enumerate(gold) if n != 1]
    first = seen[0]
    assert first["messages"][0] == {"role": "system", "content": "Route the request. Answer with JSON.\n"}  # as eval
    assert first["tools"] == gold[0]["tools"] and first["tool_choice"] == "auto" and first["temperature"] == 0
    history = [m for b in seen for m in b["messages"] if m.get("tool_calls")]
    assert history and all(isinstance(c["function"]["arguments"], str) for m in history for c in m["tool_calls"])
    with pytest.raises(ForgeError, match=r"^--server http://127\.0\.0\.1:9: cannot reach it"):
        served_eval(project, "http://127.0.0.1:9")


def calls_name(example: dict) -> str:
    return example["messages"][-1]["tool_calls"][0]["function"]["name"]
