"""From dataset examples to model inputs: the system prompt, the chat template, the loss mask.

Training and eval both go through `with_system_prompt`, so the model sees the same system
message in both. Loss is on every assistant turn only: through the template's `{% generation %}`
mask when it has one, otherwise by rendering each turn's prompt and end (which needs each
conversation's rendering to be a prefix of the next, as it is for common templates).
"""

from __future__ import annotations

from forge.errors import ForgeError

IGNORE = -100


MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")


def with_system_prompt(example: dict, system_prompt: str) -> list[dict]:
    """The example's messages (calls and tool results kept) with system_prompt.md as the only system message."""
    msgs = [{k: m[k] for k in MESSAGE_KEYS if k in m} for m in example["messages"] if m["role"] != "system"]
    return ([{"role": "system", "content": system_prompt}] if system_prompt.strip() else []) + msgs


def _ids(tokenizer, messages, **kw) -> dict:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kw)
    return {k: list(v) for k, v in out.items()}


def has_generation_markers(tokenizer) -> bool:
    return "{% generation %}" in (tokenizer.chat_template or "") or "{%- generation %}" in (
        tokenizer.chat_template or ""
    )


def supports_tools(tokenizer, calls: bool = False) -> bool:
    """Whether the template renders tool definitions (and, with `calls`, assistant tool_calls too)."""
    template = tokenizer.chat_template or ""
    return "tools" in template and (not calls or "tool_calls" in template)


def ensure_tools_template(tokenizer, calls: bool = False) -> None:
    """Give a tokenizer whose template cannot render tools (or, with `calls`, tool calls) forge's tool template
    (forge.models.tool_template), which renders every conversation without tools as the base's did; a one-line
    error when there is none."""
    if supports_tools(tokenizer, calls):
        return
    from forge.models.tool_template import tool_template

    template = tool_template(tokenizer)
    if template is None:
        raise ForgeError(
            'an example has "tools" but the model\'s chat template has no tools support, and forge '
            "cannot read its turns to add them; use a model whose template renders tools"
        )
    tokenizer.chat_template = template


def _tools_kw(tokenizer, tools: list[dict] | None, messages: list[dict]) -> dict:
    """apply_chat_template's tools argument, the template given tools support first where it has none."""
    if not tools:
        return {}
    ensure_tools_template(tokenizer, calls=any(m.get("tool_calls") for m in messages))
    return {"tools": tools}


def _render(tokenizer, messages: list[dict], **kw) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, **kw) if messages else ""


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def assistant_spans(tokenizer, messages: list[dict], text: str, **kw) -> list[tuple[int, int]]:
    """[start, end) character spans of each assistant turn in the rendered conversation `text`: from the end
    of the conversation so far with the generation prompt, to the end of the turn. The end-of-turn token is
    inside (the model must learn to stop); whitespace the template writes after it is not (nothing
    generates it). Characters, not tokens: a prompt's last whitespace may tokenize differently once text
    follows it (Llama-3's "\n\n" before a word)."""
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = _common_prefix(_render(tokenizer, messages[:i], add_generation_prompt=True, **kw), text)
        end = _common_prefix(_render(tokenizer, messages[: i + 1], **kw), text)
        end = start + len(text[start:end].rstrip())
        spans.append((start, end))
    return spans


def _last_run(mask: list) -> list[bool]:
    """Only the last contiguous run of a mask's true entries."""
    out = [False] * len(mask)
    i = len(mask) - 1
    while i >= 0 and not mask[i]:
        i -= 1
    while i >= 0 and mask[i]:
        out[i] = True
        i -= 1
    return out


def tokenize_for_training(
    tokenizer, messages: list[dict], max_len: int, tools: list[dict] | None = None, last_only: bool = False
) -> dict:
    """input_ids and labels (-100 outside assistant tokens), truncated to max_len. Every assistant turn is
    learned (only the last with `last_only`), through the template's `{% generation %}` mask when it has one,
    else by `assistant_spans`. `tools` (an example's function definitions) are rendered by the template's tools
    support (forge's tool template where the base has none)."""
    if not tokenizer.chat_template:
        raise ForgeError("the tokenizer has no chat template; use a chat/instruct model or `forge model tiny`")
    kw = _tools_kw(tokenizer, tools, messages)
    if has_generation_markers(tokenizer):
        out = _ids(tokenizer, messages, return_assistant_tokens_mask=True, **kw)
        ids, mask = out["input_ids"], out["assistant_masks"]
        mask = _last_run(mask) if last_only else mask
    else:
        if not getattr(tokenizer, "is_fast", False):
            raise ForgeError(
                "the tokenizer is not a fast (tokenizers) one, which the loss mask needs for offsets; "
                "save the model with a tokenizer.json"
            )
        text = _render(tokenizer, messages, **kw)
        # the same tokens apply_chat_template(tokenize=True) gives: the rendered text, no extra special tokens
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, spans = list(enc["input_ids"]), assistant_spans(tokenizer, messages, text, **kw)
        spans = spans[-1:] if last_only else spans
        mask = [any(a < e and b > s for s, e in spans) for a, b in enc["offset_mapping"]]
    labels = [t if m else IGNORE for t, m in zip(ids, mask, strict=True)]
    return {"input_ids": ids[:max_len], "labels": labels[:max_len]}


def prompt_text(tokenizer, messages: list[dict], tools: list[dict] | None = None) -> str:
    """The rendered prompt (everything but the final assistant answer) ready for generation."""
    return tokenizer.apply_chat_template(
        messages[:-1], tokenize=False, add_generation_prompt=True, **_tools_kw(tokenizer, tools, messages)
    )
