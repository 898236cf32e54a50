"""Tool calls in examples: the shape forge keeps them in, the answer text they are scored as, the text a model
writes them in.

Kept (OpenAI's chat fine-tuning format, normalised on the way in): an example's `tools` (function definitions,
OpenAI's `{"type": "function", "function": {...}}` or bare `{"name", "parameters"}`), assistant messages with
`tool_calls` (`[{"id"?, "type": "function", "function": {"name", "arguments": {...}}}]`, the arguments an
object, never a JSON string) and `content` "" when the turn only calls, and `tool` messages (the result in
`content`, `tool_call_id` naming the call). `normalize_message` brings OpenAI's variants to that shape.

Scored: a turn that calls is its calls as JSON, `{"name": ..., "arguments": {...}}` for one call and a list of
them for several (`answer_text`); a turn that replies is its text. Written by a model: Hermes style,
`<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>` a call (forge.models.tool_template renders it),
read back into the scored form by `answer_of_generation`.
"""

from __future__ import annotations

import json
import re
from collections import Counter

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
_CALL_BLOCK = re.compile(re.escape(CALL_OPEN) + r"\s*(.*?)\s*" + re.escape(CALL_CLOSE), re.S)


# Parameter types as BFCL and Gorilla write them, and the JSON Schema type each means (None: any value).
BFCL_TYPES = {
    "dict": "object",
    "float": "number",
    "tuple": "array",
    "list": "array",
    "int": "integer",
    "str": "string",
    "bool": "boolean",
    "any": None,
}


def json_schema_types(schema, mapped: set[str] | None = None):
    """`schema` with BFCL/Gorilla type names replaced by JSON Schema's, everywhere in it; each replacement made is
    added to `mapped` as "dict -> object"."""
    if isinstance(schema, list):
        return [json_schema_types(s, mapped) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: (
            json_schema_types(v, mapped)
            if k in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "prefixItems")
            else v
        )
        for k, v in schema.items()
    }
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: json_schema_types(v, mapped) for k, v in schema["properties"].items()}
    kind = schema.get("type")
    if isinstance(kind, str) and kind in BFCL_TYPES:
        if mapped is not None:
            mapped.add(f"{kind} -> {BFCL_TYPES[kind] or 'any value'}")
        if BFCL_TYPES[kind] is None:
            del out["type"]
        else:
            out["type"] = BFCL_TYPES[kind]
    return out


def function_of(tool, n: int) -> dict:
    """A tool definition's function (`{"name", "description"?, "parameters"}`), bare or OpenAI-style, its
    parameter types in JSON Schema's names (json_schema_types); ValueError naming tools[n] when it is neither."""
    fn = tool.get("function", tool) if isinstance(tool, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise ValueError(f'tools[{n}]: a function definition needs a "name" (string)')
    params = fn.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(params, dict):
        raise ValueError(f'tools[{n}] ({fn["name"]}): "parameters" must be a JSON Schema object')
    return {**{k: v for k, v in fn.items() if k in ("name", "description")}, "parameters": json_schema_types(params)}


def bfcl_types(tools) -> set[str]:
    """The BFCL/Gorilla type names in `tools`' parameters, as "dict -> object" (empty: plain JSON Schema)."""
    mapped: set[str] = set()
    for tool in tools if isinstance(tools, list) else ():
        fn = tool.get("function", tool) if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("parameters"), dict):
            json_schema_types(fn["parameters"], mapped)
    return mapped


def functions(tools: list) -> list[dict]:
    return [function_of(t, n) for n, t in enumerate(tools)]


def function_names(tools: list) -> list[str]:
    return [f["name"] for f in functions(tools)]


def _call(raw, where: str) -> dict:
    """One call in the kept shape, from OpenAI's (`function.arguments` a JSON string or an object) or a bare
    `{"name", "arguments"}`."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where} is not an object")
    fn = raw.get("function", raw)
    name, args = (fn.get("name"), fn.get("arguments", {})) if isinstance(fn, dict) else (None, None)
    if not isinstance(name, str) or not name:
        raise ValueError(f'{where}: a call needs a function "name" (string)')
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where} ({name}): arguments are not valid JSON ({exc.msg})") from None
    if not isinstance(args, dict):
        raise ValueError(f"{where} ({name}): arguments must be a JSON object, got {type(args).__name__}")
    out = {"type": "function", "function": {"name": name, "arguments": args}}
    return {"id": raw["id"], **out} if isinstance(raw.get("id"), str) else out


def normalize_message(msg, where: str):
    """A message in the kept shape (anything not a dict goes on as it is, for validation to name): an assistant's
    `tool_calls` normalised (null content "" then), a legacy `function_call` as one call, a `function` role as
    `tool`."""
    if not isinstance(msg, dict):
        return msg
    out = dict(msg)
    if out.get("role") == "function":  # OpenAI's legacy name for a tool result
        out["role"] = "tool"
    legacy = out.pop("function_call", None)
    calls = out.get("tool_calls") or ([legacy] if legacy else None)
    if out.get("role") == "assistant" and calls is not None:
        if not isinstance(calls, list):
            raise ValueError(f"{where}.tool_calls must be a list")
        out["tool_calls"] = [_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(calls)]
        if not out["tool_calls"]:
            del out["tool_calls"]
    if out.get("content") is None and (out.get("tool_calls") or out.get("role") == "tool"):
        out["content"] = ""
    return out


def messages_problem(msgs: list[dict], tools) -> str | None:
    """Why an example's calls and results do not hold together, or None: a call to a function not in its tools,
    a call with no tools at all, a tool result with no call before it."""
    names = None
    if tools is not None:
        try:
            names = set(function_names(tools))
        except ValueError as exc:
            return str(exc)
    open_calls = 0
    for n, msg in enumerate(msgs):
        calls = msg.get("tool_calls")
        if calls is not None:
            if msg["role"] != "assistant":
                return f"messages[{n}]: only an assistant message may carry tool_calls"
            try:
                calls = (
                    [_call(c, f"messages[{n}].tool_calls[{i}]") for i, c in enumerate(calls)]
                    if isinstance(calls, list)
                    else None
                )
            except ValueError as exc:
                return str(exc)
            if calls is None:
                return f"messages[{n}].tool_calls must be a list"
            if names is None:
                return f'messages[{n}] calls {calls[0]["function"]["name"]!r} but the example has no "tools"'
            unknown = [c["function"]["name"] for c in calls if c["function"]["name"] not in names]
            if unknown:
                return f"messages[{n}] calls {unknown[0]!r}, which is not in the example's tools ({', '.join(sorted(names))})"
            open_calls = len(calls)
        elif msg["role"] == "tool":
            if open_calls == 0:
                return f"messages[{n}]: a tool result with no assistant tool call before it"
        elif msg["role"] != "system":
            open_calls = 0
    return None


def calls_of(message: dict) -> list[dict]:
    """An assistant message's calls as `{"name", "arguments"}`."""
    return [
        {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in message.get("tool_calls") or ()
    ]


def calls_answer(calls: list[dict]) -> str:
    """Calls (`{"name", "arguments"}`) as a scored answer: one object, or a list for several."""
    return json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)


def answer_text(message: dict) -> str:
    """What a turn is scored as: its calls as JSON (calls_answer), else its text."""
    calls = calls_of(message)
    return calls_answer(calls) if calls else message["content"]


def generation_text(message: dict) -> str:
    """An assistant turn as the model writes it under forge's tool template (forge.models.tool_template): its text,
    then each call as a `<tool_call>` block; a turn without calls is its text."""
    text = message.get("content") or ""
    for n, call in enumerate(calls_of(message)):
        name, args = (json.dumps(call[k], ensure_ascii=False) for k in ("name", "arguments"))
        body = f'{{"name": {name}, "arguments": {args}}}'
        text += ("\n" if text or n else "") + f"{CALL_OPEN}\n{body}\n{CALL_CLOSE}"
    return text


def is_call(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("name"), str) and isinstance(value.get("arguments"), dict)


def calls_in(value) -> list[dict] | None:
    """The calls a parsed answer makes (one call, or a non-empty list of calls), else None (a reply)."""
    if is_call(value):
        return [value]
    if isinstance(value, list) and value and all(is_call(v) for v in value):
        return value
    return None


def split_calls(text: str) -> tuple[str, list[dict]] | None:
    """(the text outside the blocks, the calls) of Hermes text with `<tool_call>` blocks; None when a block is not
    a JSON call."""
    try:
        calls = [json.loads(b) for b in _CALL_BLOCK.findall(text)]
    except json.JSONDecodeError:
        return None
    if not all(is_call(c) for c in calls):
        return None
    return _CALL_BLOCK.sub("", text).strip(), calls


def answer_of_generation(text: str) -> str:
    """A model's Hermes-style output in the scored form: its `<tool_call>` blocks as JSON calls, else the text.
    A block that is not a JSON call, or one left open (an answer cut short), leaves the raw text, to be scored as
    the broken answer it is."""
    if CALL_OPEN not in text:
        return text.strip()
    found = split_calls(text)
    if found is None or not found[1] or text.count(CALL_OPEN) != len(found[1]):
        return text
    return calls_answer(found[1])


def openai_messages(messages: list[dict]) -> list[dict]:
    """Messages as an OpenAI client sends them: each call's arguments as JSON text."""
    return [
        {
            **m,
            "tool_calls": [
                {
                    **c,
                    "function": {
                        **c["function"],
                        "arguments": json.dumps(c["function"]["arguments"], ensure_ascii=False),
                    },
                }
                for c in m["tool_calls"]
            ],
        }
        if m.get("tool_calls")
        else m
        for m in messages
    ]


def openai_tools(tools: list) -> list[dict]:
    """Tools as an OpenAI request writes them: `{"type": "function", "function": {...}}` each."""
    return [{"type": "function", "function": f} for f in functions(tools)]


def has_calls(example: dict) -> bool:
    return any(m.get("tool_calls") for m in example.get("messages") or ())


def project_tools(examples: list[dict]) -> list | None:
    """The tool list most of `examples` (the seed and training set) carry; None when none carries tools."""
    counts = Counter(json.dumps(e["tools"], sort_keys=True) for e in examples if e.get("tools"))
    if not counts:
        return None
    wanted = counts.most_common(1)[0][0]
    return next(e["tools"] for e in examples if e.get("tools") and json.dumps(e["tools"], sort_keys=True) == wanted)
