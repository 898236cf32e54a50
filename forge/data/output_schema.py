"""The task's output contract: the JSON Schema file named by `eval.output_schema`.

One schema drives everything that touches an answer: training-set writes reject assistant answers
outside it, eval / predict / chat generate under it (forge.inference.constrained), the GGUF ships it with a
GBNF grammar, and the scorers call an answer outside it wrong. Its hash sits in the records next
to the gold hash, so a best score measured under another schema is not compared silently.

An example that carries `tools` (function definitions) has its own contract (ToolsContract): its answer is a
call `{"name": ..., "arguments": {...}}` of one of those functions, or a list of several, the arguments keeping
each function's `parameters` schema, or a text reply, as its tool_choice allows (tools_schema). schema_for picks
an example's contract; every check below uses it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from forge.data.tool_calls import CALL_OPEN, calls_in, functions
from forge.errors import ForgeError
from forge.hashing import content_hash

OUTSIDE = "outside the schema"
NAME_KEYS = ("cmd", "name")  # the key that says which command (function) an answer calls
SHOWN_CHARS = 160


@dataclass(frozen=True)
class OutputSchema:
    """A loaded, checked schema: its content, where it lives (project-relative) and its hash."""

    schema: dict
    display: str
    hash: str

    @classmethod
    def load(cls, path: Path, display: str) -> OutputSchema:
        import jsonschema

        if not path.is_file():
            raise ForgeError(f"eval.output_schema: {display} not found")
        raw = path.read_bytes()
        try:
            schema = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            line = getattr(exc, "lineno", None)
            raise ForgeError(
                f"{display}{f':{line}' if line else ''}: not valid JSON ({getattr(exc, 'msg', exc)})"
            ) from None
        if not isinstance(schema, dict):
            raise ForgeError(f"{display}: a JSON Schema must be an object")
        try:
            jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.path) or "(top level)"
            raise ForgeError(f"{display}: not a valid JSON Schema at {where}: {exc.message[:SHOWN_CHARS]}") from None
        return cls(schema, display, content_hash(raw))

    @classmethod
    def for_project(cls, project) -> OutputSchema | None:
        """The project's schema, or None when eval.output_schema is not set."""
        rel = project.config.eval.output_schema
        return cls.load(project.path(rel), rel) if rel else None

    def validator(self):
        import jsonschema

        if not hasattr(self, "_validator"):
            cls = jsonschema.validators.validator_for(self.schema, default=jsonschema.Draft202012Validator)
            object.__setattr__(self, "_validator", cls(self.schema, format_checker=cls.FORMAT_CHECKER))
        return self._validator

    def check(self, answer: str) -> tuple[str, str] | None:
        """None when `answer` is JSON that keeps the schema; else (the rule it breaks, e.g. `room: enum`, for
        counting; a reason starting 'outside the schema: ' that says where and what the schema asks)."""
        import jsonschema

        try:
            value = json.loads(answer.strip())
        except (json.JSONDecodeError, ValueError) as exc:
            return "not JSON", f"{OUTSIDE}: unparseable JSON ({getattr(exc, 'msg', exc)})"
        errors = list(self.validator().iter_errors(value))
        if not errors:
            return None
        branched = [e for e in errors if e.validator in ("anyOf", "oneOf") and not e.path]
        error = _branch_error(branched[0], value) if branched else jsonschema.exceptions.best_match(errors)
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        return f"{where}: {error.validator}", f"{OUTSIDE}: {where}: {error.message[:SHOWN_CHARS]}"

    def violation(self, answer: str) -> str | None:
        found = self.check(answer)
        return found[1] if found else None

    def keeps(self, answer: str) -> bool:
        return self.check(answer) is None


def _branch_error(error, value):
    """For a schema of one branch per command (anyOf/oneOf), the error inside the branch of the answer's own
    command, not a complaint that it is not another command; else `error` as it is."""
    import jsonschema

    if error.validator not in ("anyOf", "oneOf") or not isinstance(value, dict) or not error.context:
        return error
    branches: dict[int, list] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    for name in NAME_KEYS:
        if name not in value:
            continue
        own = [errs for errs in branches.values() if not any(list(e.relative_path)[:1] == [name] for e in errs)]
        if len(own) == 1:
            return jsonschema.exceptions.best_match(own[0]) or error
        if not own:
            names = [b.get("properties", {}).get(name, {}).get("const") for b in error.schema.get(error.validator, [])]
            error.message = f"{value[name]!r} is none of the schema's {name}s {[n for n in names if n is not None]}"
            error.path.append(name)
            return error
    return error


TOOL_CHOICES = ("auto", "required", "none")


@dataclass(frozen=True)
class ToolsContract(OutputSchema):
    """The contract of a turn that may call an example's tools: JSON that calls (one call or a list of them) keeps
    `schema`; a text reply is allowed unless tool_choice is `required`; a call is refused when it is `none`."""

    tool_choice: str = "auto"
    defaults: dict = field(default_factory=dict)  # function -> {optional argument: its default}

    def with_defaults(self, answer: str) -> str:
        """A calling answer with each optional argument it left out written at its default (the call means the
        same either way), so the scorer compares what the calls do; any other answer as it is."""
        try:
            value = json.loads(answer.strip())
        except (json.JSONDecodeError, ValueError):
            return answer
        calls = calls_in(value)
        if not calls or not any(self.defaults.get(c["name"]) for c in calls):
            return answer
        filled = [{**c, "arguments": {**self.defaults.get(c["name"], {}), **c["arguments"]}} for c in calls]
        return json.dumps(filled[0] if isinstance(value, dict) else filled, ensure_ascii=False)

    @property
    def call_schema(self) -> dict:
        """One call's schema (the answer's is one call or a list of them)."""
        return self.schema["anyOf"][0]

    def check(self, answer: str) -> tuple[str, str] | None:
        try:
            value = json.loads(answer.strip())
        except (json.JSONDecodeError, ValueError):
            value = None
        attempted = isinstance(value, dict | list) or answer.lstrip().startswith(CALL_OPEN)
        if self.tool_choice == "none":
            return ("tool_choice: none", f"{OUTSIDE}: a call where tool_choice is none") if attempted else None
        if not attempted:
            return (
                None
                if self.tool_choice == "auto"
                else ("tool_choice: required", f"{OUTSIDE}: a text reply where tool_choice is required")
            )
        if isinstance(value, dict):  # one call: its own errors, not "is not a list of calls"
            return OutputSchema(self.call_schema, self.display, self.hash).check(answer)
        return super().check(answer)


_TOOLS_CACHE: dict[str, ToolsContract] = {}


def tools_schema(tools: list[dict], tool_choice: str = "auto") -> ToolsContract:
    """The contract of an answer to an example carrying `tools` (ToolsContract): a call of one of its functions,
    or several in a list, with arguments that keep that function's parameters. Cached by content: a dataset
    repeats one tool list."""
    import jsonschema

    key = json.dumps([tools, tool_choice], sort_keys=True, ensure_ascii=False)
    if key not in _TOOLS_CACHE:
        try:
            fns = functions(tools)
        except ValueError as exc:
            raise ForgeError(str(exc)) from None
        branches = [
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "arguments"],
                "properties": {"name": {"const": fn["name"]}, "arguments": fn["parameters"]},
            }
            for fn in fns
        ]
        one = branches[0] if len(branches) == 1 else {"anyOf": branches}
        schema = {"anyOf": [one, {"type": "array", "minItems": 2, "items": one}]}
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ForgeError(
                f"tools: a function's parameters are not a valid JSON Schema: {exc.message[:SHOWN_CHARS]}"
            ) from None
        defaults = {
            fn["name"]: {
                k: p["default"]
                for k, p in (fn["parameters"].get("properties") or {}).items()
                if isinstance(p, dict) and "default" in p and k not in (fn["parameters"].get("required") or ())
            }
            for fn in fns
        }
        _TOOLS_CACHE[key] = ToolsContract(schema, "the example's tools", content_hash(key), tool_choice, defaults)
    return _TOOLS_CACHE[key]


def schema_for(example: dict, project_schema: OutputSchema | None, tool_choice: str = "auto") -> OutputSchema | None:
    """The contract `example`'s answer keeps: its own tools' when it carries them, under its own tool_choice or
    else `tool_choice` (eval.tool_choice); else the project's."""
    tools = example.get("tools")
    return tools_schema(tools, example.get("tool_choice", tool_choice)) if tools else project_schema


def longest_answer(schema) -> tuple[str, int] | None:
    """The longest answer `schema` allows, as (its JSON text without the free characters of its strings, how many
    free characters those strings may hold: each is at most a token or so), or None when answers are unbounded (a
    string without maxLength or enum, an array without maxItems, a number without both bounds, extra keys)."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False), 0
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return max((json.dumps(v, ensure_ascii=False) for v in schema["enum"]), key=len), 0
    kind = schema.get("type")
    options = (
        schema.get("anyOf")
        or schema.get("oneOf")
        or ([{**schema, "type": k} for k in kind] if isinstance(kind, list) else None)
    )
    if options:
        found = [longest_answer(o) for o in options]
        bounded = [f for f in found if f is not None]
        return max(bounded, key=lambda f: len(f[0]) + f[1]) if len(bounded) == len(found) else None
    if kind == "object":
        if schema.get("additionalProperties") not in (None, False):
            return None
        parts = {k: longest_answer(v) for k, v in (schema.get("properties") or {}).items()}
        texts = {k: p for k, p in parts.items() if p is not None}
        if len(texts) < len(parts):
            return None
        body = ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {text}" for k, (text, _) in texts.items())
        return "{" + body + "}", sum(free for _, free in texts.values())
    if kind == "array":
        item = longest_answer(schema.get("items", {}))
        n = schema.get("maxItems")
        return None if item is None or not isinstance(n, int) else ("[" + ", ".join([item[0]] * n) + "]", item[1] * n)
    if kind == "string" and isinstance(schema.get("maxLength"), int):
        return '""', schema["maxLength"]
    if kind == "integer" and all(isinstance(schema.get(k), int) for k in ("minimum", "maximum")):
        return max(str(schema["minimum"]), str(schema["maximum"]), key=len), 0
    return {"boolean": ("false", 0), "null": ("null", 0)}.get(kind) if isinstance(kind, str) else None
