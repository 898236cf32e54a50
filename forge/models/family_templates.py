"""Chat templates for a base whose file carries none (a pretrained, not instruction-tuned, GGUF such as Gemma 3
270M's), chosen by the turn tokens its vocabulary already holds: the template its family's instruct models use,
so a model forge trains speaks the format the rest of its family, llama.cpp and Ollama expect.

`forge model import` gives it once, says so in one line and records it (forge_import.json `chat_template_given`);
the turn's end token joins the model's end tokens, so generation stops where the template ends a turn.
"""

from __future__ import annotations

# Gemma 3's instruct template, text only: no system turn (the system prompt opens the first user turn), `model`
# for the assistant, contents trimmed.
GEMMA = (
    "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first_user_prefix = messages[0]['content']"
    " + '\\n\\n' -%}{%- set loop_messages = messages[1:] -%}{%- else -%}{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}{%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)
CHATML = (
    "{%- for message in messages -%}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
LLAMA3 = (
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] +"
    " '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
# family -> (the tokens that must all be in the vocabulary, the turn's end token, the template)
FAMILIES = {
    "gemma": (("<start_of_turn>", "<end_of_turn>"), "<end_of_turn>", GEMMA),
    "chatml": (("<|im_start|>", "<|im_end|>"), "<|im_end|>", CHATML),
    "llama3": (("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"), "<|eot_id|>", LLAMA3),
}


def family_template(tokenizer) -> tuple[str, str, str] | None:
    """(family, turn end token, template) for a tokenizer without a chat template, from the turn tokens in its
    vocabulary; None when it holds no family's."""
    vocab = tokenizer.get_vocab()
    for family, (needed, end, template) in FAMILIES.items():
        if all(t in vocab for t in needed):
            return family, end, template
    return None


def give_template(model, tokenizer) -> str | None:
    """Give a tokenizer without a chat template its family's (family_template), and the model the turn's end token
    as an end token; returns the family, or None when nothing was given."""
    if tokenizer.chat_template:
        return None
    found = family_template(tokenizer)
    if found is None:
        return None
    family, end, template = found
    tokenizer.chat_template = template
    end_id = tokenizer.convert_tokens_to_ids(end)
    config = model.generation_config
    ends = (
        config.eos_token_id
        if isinstance(config.eos_token_id, list)
        else [config.eos_token_id]
        if config.eos_token_id is not None
        else []
    )
    config.eos_token_id = [*ends, end_id] if end_id not in ends else ends
    return family
