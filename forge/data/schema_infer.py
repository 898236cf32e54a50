"""`forge schema infer`: a JSON Schema proposed from the training set's answers, for a person to review.

Read from the training set only, never gold: the gold set is what the schema is checked against.
Answers that carry a `cmd` (or `name`) become one object schema per command (`anyOf`, each with
its `cmd` as a const), so each command gets its own arguments. Per field: integer vs number vs
boolean, nested objects field by field, a closed set of strings as an `enum` when few values
repeat (at most ENUM_MAX values, each seen twice on average), `null` where a field is sometimes
null; a key every example of that command has is required; nothing else is allowed
(additionalProperties false). Properties come required first, then optional, each in the order the
answers write them: the order constrained decoding produces (forge.inference.constrained.decoding_order).
"""

from __future__ import annotations

import json
from typing import Any

from forge.data.datasets import assistant_text, load_numbered
from forge.errors import ForgeError

ENUM_MAX = 12
ENUM_REPEAT = 2  # occurrences per distinct value before strings count as a closed set
NAME_KEYS = ("cmd", "name")


def _value_schema(values: list) -> dict:
    schema: dict[str, Any]
    kinds = {_kind(v) for v in values}
    nullable = "null" in kinds
    kinds.discard("null")
    if kinds == {"integer", "number"}:
        kinds = {"number"}
    if len(kinds) != 1:
        schema = {"type": sorted(kinds)} if kinds else {"type": "null"}
    else:
        kind = kinds.pop()
        present = [v for v in values if v is not None]
        if kind == "object":
            schema = _object_schema(present)
        elif kind == "array":
            items = [x for v in present for x in v]
            schema = {"type": "array", **({"items": _value_schema(items)} if items else {})}
        elif kind == "string" and len(set(present)) <= ENUM_MAX and len(present) >= ENUM_REPEAT * len(set(present)):
            return {"enum": _ordered(present) + ([None] if nullable else [])}
        else:
            schema = {"type": kind}
    if nullable and "type" in schema:
        schema["type"] = sorted({*([schema["type"]] if isinstance(schema["type"], str) else schema["type"]), "null"})
    return schema


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def _ordered(values: list) -> list:
    return list(dict.fromkeys(values))


def _object_schema(objects: list[dict], const: tuple[str, str] | None = None) -> dict:
    keys = _ordered([k for o in objects for k in o])
    required = [k for k in keys if all(k in o for o in objects)]
    keys = required + [k for k in keys if k not in required]  # forge.inference.constrained.decoding_order
    props = {k: _value_schema([o[k] for o in objects if k in o]) for k in keys}
    if const:
        props[const[0]] = {"const": const[1]}
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def infer_schema(answers: list[tuple[str, object]]) -> dict:
    """A schema for (where, parsed answer) pairs; per command when every answer is an object naming one."""
    values = [v for _, v in answers]
    if not values:
        raise ForgeError("no training examples to infer a schema from")
    objects = [v for v in values if isinstance(v, dict)]
    if len(objects) == len(values):
        for key in NAME_KEYS:
            if all(isinstance(v.get(key), str) for v in objects):
                by_name: dict[str, list[dict]] = {}
                for v in objects:
                    by_name.setdefault(v[key], []).append(v)
                branches = [_object_schema(objs, (key, name)) for name, objs in by_name.items()]
                return {"$schema": "https://json-schema.org/draft/2020-12/schema", "anyOf": branches}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **_value_schema(values)}


def infer_for_project(project) -> dict:
    """The schema proposed from dataset.canonical (the seed file while it is empty); file:line for an answer
    that is not JSON."""
    path = project.canonical_path
    rel = project.rel(path)
    rows = load_numbered(path, rel, missing_ok=True)
    if not rows:
        path, rel = project.seed_path, project.rel(project.seed_path)
        rows = load_numbered(path, rel, missing_ok=True)
    answers = []
    for line, example in rows:
        try:
            answers.append((f"{rel}:{line}", json.loads(assistant_text(example))))
        except ValueError:
            raise ForgeError(f"{rel}:{line}: the answer is not JSON; a schema describes JSON answers") from None
    return infer_schema(answers)
