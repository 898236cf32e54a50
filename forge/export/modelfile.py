"""The Ollama Modelfile written beside an exported GGUF.

Ollama does not run the Jinja chat template; it needs a Go template. Rather than keep a table
of template families, the Go template is derived from the model's own Jinja template by
rendering it with marker strings for the system prompt, the user's text and the answer, then
putting Ollama's `{{ .System }}`, `{{ .Prompt }}` and `{{ .Response }}` where the markers came
out. For the single-turn prompts forge trains and evaluates on, the text Ollama builds is then
exactly the text the model saw in training. The system prompt used in training is written as
SYSTEM, and the end-of-turn token as a stop parameter, so the model neither lacks its
instructions nor runs on past its answer.
"""

from __future__ import annotations

from forge.errors import ForgeError

# Not whitespace (str.strip takes \x1e for it): a template that trims the text (Gemma 3's) keeps the markers
SYS, USER, RESP = "\u27e6FORGE_SYSTEM\u27e7", "\u27e6FORGE_PROMPT\u27e7", "\u27e6FORGE_RESPONSE\u27e7"


def _literal(text: str) -> str:
    """Template text as a Go template literal: only `{{` needs escaping."""
    return text.replace("{{", '{{ "{{" }}')


def _render(tokenizer, messages: list[dict], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _fill(text: str, bos: str | None) -> str:
    if bos and text.startswith(bos):
        text = text[len(bos) :]  # llama.cpp and Ollama add BOS themselves when the GGUF says so
    out = _literal(text)
    return out.replace(_literal(SYS), "{{ .System }}").replace(_literal(USER), "{{ .Prompt }}")


def ollama_template(tokenizer, strip_bos: bool) -> str:
    """A Go template that renders single-turn prompts exactly as `tokenizer`'s chat template does."""
    if not tokenizer.chat_template:
        raise ForgeError("the tokenizer has no chat template; Ollama would not know how to prompt the model")
    bos = tokenizer.bos_token if strip_bos else None
    user = [{"role": "user", "content": USER}]
    with_system = _render(tokenizer, [{"role": "system", "content": SYS}, *user], True)
    without = _render(tokenizer, user, True)
    answered = _render(tokenizer, [*user, {"role": "assistant", "content": RESP}], False)
    if SYS not in with_system or USER not in without or RESP not in answered:
        raise ForgeError("the chat template drops the system, user or assistant text; cannot derive an Ollama template")
    after = answered.split(RESP, 1)[1]
    return (
        "{{ if .System }}"
        + _fill(with_system, bos)
        + "{{ else }}"
        + _fill(without, bos)
        + "{{ end }}{{ .Response }}"
        + _literal(after)
    )


def _quoted(value: str, what: str) -> str:
    if '"""' in value:
        raise ForgeError(f'{what} contains """, which a Modelfile cannot quote')
    return f'"""{value}"""'


def modelfile_text(
    gguf_name: str,
    tokenizer,
    stop_strings: list[str],
    system_prompt: str | None,
    strip_bos: bool,
    contract: bool = False,
    tools: bool = False,
) -> str:
    lines = [
        "# Written by `forge export --format gguf`. Create the model with:",
        "#   ollama create <name> -f Modelfile",
    ]
    if tools:  # Ollama's Go templates cannot write tools as the GGUF's own template does (docs/projects.md)
        lines += [
            "# Tool calls: this template renders prompts without tools, so Ollama refuses requests with tools.",
            f"#   Serve them with llama-server, which runs the GGUF's own tool template: llama-server -m "
            f"{gguf_name} --jinja",
        ]
    if contract:  # the output schema the model was evaluated under travels with each request, not the Modelfile
        stem = gguf_name.removesuffix(".gguf")
        lines += [
            "# Keep the task's output contract (as forge evaluated it): pass the schema with each request,",
            f'#   Ollama:       "format": <the JSON of {stem}.schema.json> in /api/chat or /api/generate',
            f"#   llama-server: --grammar-file {stem}.gbnf  (the layout forge evaluated; --json-schema-file "
            f"{stem}.schema.json also allows other blanks)",
        ]
    lines += [f"FROM ./{gguf_name}", f"TEMPLATE {_quoted(ollama_template(tokenizer, strip_bos), 'the chat template')}"]
    if system_prompt:
        lines.append(f"SYSTEM {_quoted(system_prompt, 'the system prompt')}")
    lines += [f"PARAMETER stop {_go_string(s)}" for s in stop_strings]
    lines.append("PARAMETER temperature 0")  # the greedy decoding forge evaluated
    return "\n".join(lines) + "\n"


def _go_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
