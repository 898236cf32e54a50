"""A tool-calling chat template for a base whose own template cannot render tools (SmolLM2, Gemma 3).

forge keeps the base's turns exactly as its template writes them (its markers are read off renderings of probe
conversations) and adds tools the Hermes way, which llama.cpp, vLLM and Ollama already parse:
- the tools, one JSON function a line inside `<tools></tools>` (always name, description, parameters: what
  llama-server passes a template whatever the request had), with the instructions Qwen2.5 and Hermes use, at
  the end of the system turn (a system turn of its own when the base has one, else where the base puts the
  system prompt: before the first user message);
- each call of an assistant turn as `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>` after its
  text, one a line;
- tool results in a user turn, each as `<tool_response>\n...\n</tool_response>`.
A conversation without tools renders exactly as under the base's template: `tool_template` checks that on the
probes and gives None when it cannot (a template it cannot read), so the caller says so in one line. The
template is a Jinja string saved with the tokenizer, so every model forge trains, and the GGUF it exports,
carry it.
"""

from __future__ import annotations

import json

TOOLS_INTRO = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
TOOLS_OUTRO = (
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
    "within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)
_S, _U1, _A1, _U2, _A2 = "SYS\u2460", "USR\u2461", "AST\u2462", "USR\u2463", "AST\u2464"

_TEMPLATE = """\
{%- if messages and messages[0].role == 'system' -%}
{%- set sys = messages[0].content -%}{%- set rest = messages[1:] -%}
{%- else -%}{%- set sys = none -%}{%- set rest = messages -%}{%- endif -%}
{%- if tools -%}
{%- set ns = namespace(text=(sys + '\\n\\n' if sys else '') + @INTRO@) -%}
{%- for tool in tools -%}
{%- set fn = tool.function if tool.function is defined else tool -%}
{%- set ns.text = ns.text + '\\n{"name": ' + (fn.name | tojson) + ', "description": ' + ((fn.description or '') | tojson)
    + ', "parameters": ' + ((fn.parameters or {}) | tojson) + '}' -%}
{%- endfor -%}
{%- set sys = ns.text + @OUTRO@ -%}
{%- endif -%}
@HEAD@
{%- for message in rest -%}
{%- if message.role == 'user' -%}
{{- @US@ -}}@FIRST@{{- @CONTENT@ + @UE@ -}}
{%- elif message.role == 'assistant' -%}
{{- @AS@ + @CONTENT@ -}}
{%- if message.tool_calls -%}
{%- for call in message.tool_calls -%}
{%- set fn = call.function if call.function is defined else call -%}
{{- '\\n' if (message.content or not loop.first) else '' -}}
{{- '<tool_call>\\n{"name": ' + (fn.name | tojson) + ', "arguments": ' -}}
{{- (fn.arguments if fn.arguments is string else (fn.arguments | tojson)) + '}\\n</tool_call>' -}}
{%- endfor -%}
{%- endif -%}
{{- @AE@ -}}
{%- elif message.role == 'tool' -%}
{%- if loop.first or loop.previtem.role != 'tool' -%}{{- @US@ -}}@FIRST@{%- else -%}{{- '\\n' -}}{%- endif -%}
{{- '<tool_response>\\n' + message.content + '\\n</tool_response>' -}}
{%- if loop.last or loop.nextitem.role != 'tool' -%}{{- @UE@ -}}{%- endif -%}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- @AS@ -}}{%- endif -%}
"""


def _lit(text: str) -> str:
    """A Jinja string literal (both transformers' Jinja and llama.cpp's minja read JSON's escapes)."""
    return json.dumps(text)


def _markers(render) -> dict | None:
    """The base template's turn markers, read off probe renderings; None when they do not fit one pattern."""
    t1 = render(
        [
            {"role": "user", "content": _U1},
            {"role": "assistant", "content": _A1},
            {"role": "user", "content": _U2},
            {"role": "assistant", "content": _A2},
        ],
        False,
    )
    gen = render([{"role": "user", "content": _U1}], True)
    plain = render([{"role": "user", "content": _U1}], False)
    if not all(s in t1 for s in (_U1, _A1, _U2, _A2)) or not gen.startswith(plain):
        return None
    head, after_u1 = t1.split(_U1, 1)
    ua, after_a1 = after_u1.split(_A1, 1)
    au, after_u2 = after_a1.split(_U2, 1)
    ua2, ae = after_u2.split(_A2, 1)
    asst = gen[len(plain) :]
    if ua != ua2 or not au.startswith(ae) or not ua.endswith(asst) or plain != head + _U1 + ua[: len(ua) - len(asst)]:
        return None
    us = au[len(ae) :]
    if not head.endswith(us):
        return None
    m = {"pre": head[: len(head) - len(us)], "us": us, "ue": ua[: len(ua) - len(asst)], "as": asst, "ae": ae}
    padded = render([{"role": "user", "content": f" {_U1} "}, {"role": "assistant", "content": f" {_A1} "}], False)
    m["trim"] = f" {_U1} " not in padded  # Gemma's and Llama 3's templates trim each message
    t2 = render(
        [{"role": "system", "content": _S}, {"role": "user", "content": _U1}, {"role": "assistant", "content": _A1}],
        False,
    )
    if _S not in t2 or _U1 not in t2:
        return None
    before, between = t2.split(_S, 1)[0], t2.split(_S, 1)[1].split(_U1, 1)[0]
    if between.endswith(us):  # a system turn of its own
        m.update(mode="turn", sys_pre=before, sys_end=between[: len(between) - len(us)])
    elif before == m["pre"] + us:  # the system prompt written into the first user message
        m.update(mode="merged", sep=between)
    else:
        return None
    return m


def build(m: dict) -> str:
    """The tool template for the markers `_markers` read."""
    if m["mode"] == "turn":
        head = (
            "{%- if sys is not none -%}{{- "
            + _lit(m["sys_pre"])
            + " + sys + "
            + _lit(m["sys_end"])
            + " -}}{%- else -%}{{- "
            + _lit(m["pre"])
            + " -}}{%- endif -%}"
        )
        first = ""
    else:
        head = "{{- " + _lit(m["pre"]) + " -}}"
        first = "{%- if loop.first and sys is not none -%}{{- sys + " + _lit(m["sep"]) + " -}}{%- endif -%}"
    out = _TEMPLATE.replace("@CONTENT@", "((message.content or '') | trim)" if m["trim"] else "(message.content or '')")
    for key, value in (
        ("@INTRO@", _lit(TOOLS_INTRO)),
        ("@OUTRO@", _lit(TOOLS_OUTRO)),
        ("@HEAD@", head),
        ("@FIRST@", first),
        ("@US@", _lit(m["us"])),
        ("@UE@", _lit(m["ue"])),
        ("@AS@", _lit(m["as"])),
        ("@AE@", _lit(m["ae"])),
    ):
        out = out.replace(key, value)
    return out


def tool_template(tokenizer) -> str | None:
    """A template that renders tools for `tokenizer`'s base, identical to its own on conversations without tools;
    None when forge cannot read the base's template that way."""
    if not tokenizer.chat_template:
        return None

    def render(messages, gen, template=None):
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=gen, chat_template=template
        )

    try:
        markers = _markers(render)
    except Exception:  # a template that raises on the probes (it wants strict alternation, say): not readable
        return None
    if markers is None:
        return None
    template = build(markers)
    probes = [
        [
            {"role": "user", "content": _U1},
            {"role": "assistant", "content": f" {_A1}\n"},
            {"role": "user", "content": f"\n{_U2} "},
            {"role": "assistant", "content": _A2},
        ],
        [
            {"role": "system", "content": _S},
            {"role": "user", "content": _U1},
            {"role": "assistant", "content": _A1},
            {"role": "user", "content": _U2},
        ],
    ]
    for probe in probes:
        for gen in (False, True):
            if render(probe, gen, template) != render(probe, gen):
                return None
    return template
