"""`forge import --format`: Alpaca, ShareGPT, prompt/completion and messages files into the chat format, through
the same validation, dedupe and gold guard; examples with `tools` rendered by templates that support them."""

from __future__ import annotations

import json

import pytest

from forge.errors import ForgeError
from forge.models.chat_format import tokenize_for_training

from conftest import write_jsonl

ALPACA = [
    {"instruction": "Turn on the lights", "input": "room 12", "output": '{"cmd": "lights_on"}'},
    {"instruction": "Play some music", "input": "", "output": '{"cmd": "play_music"}', "system": "Be terse."},
]
SHAREGPT = [
    {
        "conversations": [
            {"from": "system", "value": "Route it."},
            {"from": "human", "value": "lights off"},
            {"from": "gpt", "value": '{"cmd": "lights_off"}'},
        ]
    },
    {"conversations": [{"from": "human", "value": "weather?"}, {"from": "gpt", "value": '{"cmd": "weather"}'}]},
]
PROMPT_COMPLETION = [
    {"prompt": "will it rain", "completion": '{"cmd": "weather"}'},
    {
        "prompt": [{"role": "user", "content": "kill the lamp"}],
        "completion": [{"role": "assistant", "content": '{"cmd": "lights_off"}'}],
    },
]


def _canonical(root):
    return [json.loads(line) for line in (root / "dataset" / "canonical.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("fmt", "rows", "first"),
    [
        (
            "alpaca",
            ALPACA,
            [
                {"role": "user", "content": "Turn on the lights\n\nroom 12"},
                {"role": "assistant", "content": '{"cmd": "lights_on"}'},
            ],
        ),
        (
            "sharegpt",
            SHAREGPT,
            [
                {"role": "system", "content": "Route it."},
                {"role": "user", "content": "lights off"},
                {"role": "assistant", "content": '{"cmd": "lights_off"}'},
            ],
        ),
        (
            "prompt-completion",
            PROMPT_COMPLETION,
            [{"role": "user", "content": "will it rain"}, {"role": "assistant", "content": '{"cmd": "weather"}'}],
        ),
    ],
)
def test_formats_import_as_chat_examples(project_dir, cli, tmp_path, fmt, rows, first):
    src = tmp_path / f"{fmt}.jsonl"
    write_jsonl(src, rows)
    result = cli("import", src, "-p", project_dir)  # auto-detected
    assert result.exit_code == 0, result.output
    assert f"format: {fmt}" in result.output and "kept: 2" in result.output
    got = _canonical(project_dir)
    assert got[0]["messages"] == first and got[0]["provenance"]["format"] == fmt
    if fmt == "alpaca":  # the row's own system prompt comes first
        assert got[1]["messages"][0] == {"role": "system", "content": "Be terse."}
    again = cli("import", src, "--format", fmt, "-p", project_dir)
    assert again.exit_code == 0 and "duplicates: 2" in again.output


@pytest.mark.parametrize(
    ("rows", "fmt", "error"),
    [
        (
            [{"text": "raw"}],
            "auto",
            "x.jsonl:1: unknown format (expected messages, conversations, instruction/output "
            "or prompt/completion); name it with --format",
        ),
        ([ALPACA[0], SHAREGPT[0]], "auto", "x.jsonl:2: a sharegpt example in a alpaca file"),
        (
            [{"conversations": [{"from": "bot", "value": "hi"}]}],
            "sharegpt",
            "x.jsonl:1: sharegpt: conversations[0].from must be one of human, user, gpt, assistant, model, system, "
            "function_call, observation, tool, got 'bot'",
        ),
        (
            [{"prompt": "hi", "completion": 3}],
            "auto",
            'x.jsonl:1: prompt-completion: "completion" must be a string or a list of {"role", "content"} messages',
        ),
        (
            [{"instruction": "hi", "output": "ok", "tools": "search"}],
            "alpaca",
            'x.jsonl:1: alpaca: "tools" is a string but not a JSON list of functions',
        ),
        (
            [{"instruction": "hi", "output": "ok", "tools": {"name": "search"}}],
            "alpaca",
            'x.jsonl:1: "tools" must be a list of function definitions (objects)',
        ),
    ],
)
def test_bad_rows_are_one_line_errors_and_nothing_is_written(project_dir, cli, tmp_path, rows, fmt, error):
    src = tmp_path / "x.jsonl"
    write_jsonl(src, rows)
    result = cli("import", src, "--format", fmt, "-p", project_dir)
    assert result.exit_code == 1 and result.output == f"Error: {src.parent}/{error}\n"
    assert not (project_dir / "dataset" / "canonical.jsonl").read_text().strip()


def test_gold_inputs_are_refused_whatever_the_format(project_dir, cli, tmp_path):
    write_jsonl(
        project_dir / "dataset" / "gold.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": "Turn on the lights\n\nroom 12"},
                    {"role": "assistant", "content": '{"cmd": "lights_on"}'},
                ]
            }
        ],
    )
    src = tmp_path / "a.jsonl"
    write_jsonl(src, ALPACA)
    result = cli("import", src, "-p", project_dir)
    assert "gold_rejected: 1" in result.output and "kept: 1" in result.output


TOOLS_TEMPLATE = (
    "{%- if tools %}{{ '<|im_start|>system\\nTools:\\n' }}{%- for t in tools %}{{ t | tojson }}{{ '\\n' }}"
    "{%- endfor %}{{ '<|im_end|>\\n' }}{%- endif %}"
    "{%- for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)
TOOLS = [{"type": "function", "function": {"name": "lights_on", "parameters": {"type": "object", "properties": {}}}}]
CALL = [{"role": "user", "content": "lights please"}, {"role": "assistant", "content": '{"name": "lights_on"}'}]


def test_tools_render_through_the_template_or_forges_own(nano_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(nano_model))
    own = tokenize_for_training(tok, CALL, 512, TOOLS)  # the nano template has no tools: forge's tool template
    assert "<tools>" in tok.decode(own["input_ids"]) and '"name": "lights_on"' in tok.decode(own["input_ids"])
    tok.chat_template = "{{ messages[0].content }}"  # no turns forge can read: refused in one line
    with pytest.raises(ForgeError, match='an example has "tools" but the model\'s chat template has no tools support'):
        tokenize_for_training(tok, CALL, 512, TOOLS)
    tok.chat_template = TOOLS_TEMPLATE
    row = tokenize_for_training(tok, CALL, 512, TOOLS)
    assert '"name": "lights_on", "parameters"' in tok.decode(row["input_ids"])  # the definitions are in the prompt
    learned = tok.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100])
    assert learned == '{"name": "lights_on"}<|im_end|>'
