"""From dataset examples to model inputs: the system prompt, the chat template, the loss mask.

Training and eval both go through `with_system_prompt`, so the model sees the same system
message in both. Loss is on assistant tokens only: through the template's `{% generation %}`
mask when it has one, otherwise everything after the rendered prompt (the prompt must be a
prefix of the full conversation, which holds for common templates).
"""

from __future__ import annotations

from forge.errors import ForgeError

IGNORE = -100


def with_system_prompt(example: dict, system_prompt: str) -> list[dict]:
    """The example's messages with system_prompt.md as the only system message."""
    msgs = [{"role": m["role"], "content": m["content"]} for m in example["messages"] if m["role"] != "system"]
    return ([{"role": "system", "content": system_prompt}] if system_prompt.strip() else []) + msgs


def _ids(tokenizer, messages, **kw) -> dict:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kw)
    return {k: list(v) for k, v in out.items()}


def has_generation_markers(tokenizer) -> bool:
    return "{% generation %}" in (tokenizer.chat_template or "") or "{%- generation %}" in (tokenizer.chat_template or "")


def tokenize_for_training(tokenizer, messages: list[dict], max_len: int) -> dict:
    """input_ids and labels (-100 outside assistant tokens), truncated to max_len."""
    if not tokenizer.chat_template:
        raise ForgeError("the tokenizer has no chat template; use a chat/instruct model or `forge model tiny`")
    if has_generation_markers(tokenizer):
        out = _ids(tokenizer, messages, return_assistant_tokens_mask=True)
        ids, mask = out["input_ids"], out["assistant_masks"]
    else:
        ids = _ids(tokenizer, messages)["input_ids"]
        prompt = _ids(tokenizer, messages[:-1], add_generation_prompt=True)["input_ids"]
        start = 0
        while start < min(len(prompt), len(ids)) and prompt[start] == ids[start]:
            start += 1
        mask = [0] * start + [1] * (len(ids) - start)
    labels = [t if m else IGNORE for t, m in zip(ids, mask, strict=True)]
    return {"input_ids": ids[:max_len], "labels": labels[:max_len]}


def prompt_text(tokenizer, messages: list[dict]) -> str:
    """The rendered prompt (everything but the final assistant answer) ready for generation."""
    return tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
