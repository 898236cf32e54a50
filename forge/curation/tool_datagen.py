"""What the LLM is asked for when the task calls functions: conversations in OpenAI's chat shape over the
project's tools, answered through structured output and turned into examples that carry those tools.

The tools are the project's own (forge.data.tool_calls.project_tools: the list its seed and training examples
carry); the LLM never writes them. It answers each conversation as messages whose calls name a function of that
list, with the arguments as JSON text (OpenAI's own way); forge then reads the arguments, numbers the calls and
their results (`call_1`, ...), and checks every call against the function's parameters when the
examples are appended (forge.data.output_schema), so a call the tools refuse is rejected, not trained.
"""

from __future__ import annotations

import json

from forge.data.tool_calls import function_names

CHAT_ROLES = ["user", "assistant", "tool"]


def examples_schema(tools: list) -> dict:
    """The structured-output schema of one batch: conversations whose calls name one of `tools`' functions."""
    call = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "arguments"],
        "properties": {
            "name": {"type": "string", "enum": function_names(tools)},
            "arguments": {"type": "string", "description": "the arguments: a JSON object, as text"},
        },
    }
    message = {
        "type": "object",
        "additionalProperties": False,
        "required": ["role", "content"],
        "properties": {
            "role": {"type": "string", "enum": CHAT_ROLES},
            "content": {"type": "string"},
            "tool_calls": {"type": "array", "items": call},
        },
    }
    conversation = {
        "type": "object",
        "additionalProperties": False,
        "required": ["messages"],
        "properties": {"messages": {"type": "array", "items": message}},
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["examples"],
        "properties": {"examples": {"type": "array", "items": conversation}},
    }


def from_llm(item, tools: list):
    """One conversation as the LLM wrote it, in OpenAI's shape with `tools`: each call `{"id", "type":
    "function", "function": {"name", "arguments"}}` (arguments still text: normalising reads them), each tool
    result answering the oldest call still open. Anything else goes on as it is, for validation to reject."""
    if not isinstance(item, dict) or not isinstance(item.get("messages"), list):
        return item
    messages, open_ids, n = [], [], 0
    for msg in item["messages"]:
        if not isinstance(msg, dict):
            messages.append(msg)
            continue
        out = {k: v for k, v in msg.items() if k != "tool_calls"}
        calls = msg.get("tool_calls")
        if isinstance(calls, list) and calls:
            out["tool_calls"] = []
            for call in calls:
                n += 1
                open_ids.append(f"call_{n}")
                fn = {"name": call.get("name"), "arguments": call.get("arguments")} if isinstance(call, dict) else call
                out["tool_calls"].append({"id": f"call_{n}", "type": "function", "function": fn})
        elif msg.get("role") == "tool" and open_ids:
            out["tool_call_id"] = open_ids.pop(0)
        messages.append(out)
    return {"tools": tools, "messages": messages}


def anchor(example: dict) -> dict:
    """A conversation as the LLM is shown it: the shape it answers in (calls as name and arguments text)."""
    shown = []
    for msg in example["messages"]:
        out = {"role": msg["role"], "content": msg.get("content") or ""}
        if msg.get("tool_calls"):
            out["tool_calls"] = [
                {"name": c["function"]["name"], "arguments": json.dumps(c["function"]["arguments"], ensure_ascii=False)}
                for c in msg["tool_calls"]
            ]
        shown.append(out)
    return {"messages": shown}
