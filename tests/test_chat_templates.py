"""Loss masks on real chat templates: SmolLM2's own tokenizer and template, and Qwen-, Gemma- and
Llama-3-style templates on the same real vocabulary. Every assistant turn is learned with its
end-of-turn token; prompts and the template's whitespace after the end of a turn are not."""

from __future__ import annotations

import pytest

from forge.models.chat_format import IGNORE, tokenize_for_training
from forge.models.family_templates import CHATML, GEMMA, LLAMA3

QWEN = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if message.role == 'user' or (message.role == 'system' and not loop.first)"
    " or message.role == 'assistant' %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>'"
    " + '\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# template -> (its end-of-turn token, special tokens the SmolLM2 vocabulary lacks)
TEMPLATES = {
    "smollm2": (None, "<|im_end|>", []),
    "qwen": (QWEN, "<|im_end|>", []),
    "gemma": (GEMMA, "<end_of_turn>", ["<start_of_turn>", "<end_of_turn>"]),
    "llama3": (LLAMA3, "<|eot_id|>", ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]),
    "chatml": (CHATML, "<|im_end|>", []),  # what forge gives a ChatML vocabulary without a template
}
CONVERSATION = [
    {"role": "system", "content": "Answer with the number only."},
    {"role": "user", "content": "What is 12 + 30?"},
    {"role": "assistant", "content": "42"},
    {"role": "user", "content": "   "},  # an empty-looking turn is still a turn
    {"role": "assistant", "content": "unknown\n\nreason: no question"},
]


@pytest.fixture(scope="module")
def real_tokenizer(smollm2):
    from transformers import AutoTokenizer

    return lambda: AutoTokenizer.from_pretrained(str(smollm2))


def _learned_spans(row) -> list[list[int]]:
    spans, current = [], []
    for tok, label in zip(row["input_ids"], row["labels"], strict=True):
        if label == IGNORE:
            if current:
                spans.append(current)
            current = []
        else:
            assert label == tok
            current.append(tok)
    return spans + ([current] if current else [])


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_assistant_turn_is_learned_with_its_end_of_turn_and_nothing_else(real_tokenizer, name):
    template, eot, extra = TEMPLATES[name]
    tok = real_tokenizer()
    if extra:
        tok.add_special_tokens({"additional_special_tokens": extra})
    if template:
        tok.chat_template = template
    row = tokenize_for_training(tok, CONVERSATION, 1024)
    learned = [tok.decode(span) for span in _learned_spans(row)]
    assert learned == [f"42{eot}", f"unknown\n\nreason: no question{eot}"]
    assert row["input_ids"] == tok.apply_chat_template(CONVERSATION, tokenize=True, return_dict=True)["input_ids"]


def test_smollm2_template_trailing_newline_is_rendered_but_not_learned(real_tokenizer):
    tok = real_tokenizer()
    row = tokenize_for_training(tok, CONVERSATION[:3], 1024)
    assert tok.decode(row["input_ids"][-2:]) == "<|im_end|>\n"
    assert row["labels"][-1] == IGNORE and row["labels"][-2] == tok.convert_tokens_to_ids("<|im_end|>")


def test_awkward_text_tokenizes_as_the_gguf_tokenizer_does(smollm2):
    """Token parity with llama.cpp on the real vocabulary: digits, unicode, code, whitespace runs."""
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    from conftest import smollm2_gguf

    tok = AutoTokenizer.from_pretrained(str(smollm2))
    llm = Llama(model_path=str(smollm2_gguf()), vocab_only=True, verbose=False)
    for text in [
        "12345 + 0.5 = 12345.5",
        "naïve café — “quoted” ½ 東京 🙂",
        "def f(x):\n\treturn x**2  # sq\n\n\n",
        "   leading and trailing   ",
        "ALLCAPS_and_snake_case-and-kebab",
        "$1,000,000.00 (USD)",
        "",
    ]:
        ours = tok(text, add_special_tokens=False)["input_ids"]
        theirs = llm.tokenize(text.encode(), add_bos=False, special=False)
        assert ours == theirs, text
