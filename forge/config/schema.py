"""JSON Schema, defaults and docs derived from the dataclasses in forge.config.fields.

Nothing here defines a field; it only walks the definitions so every view stays in sync.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import lru_cache

from forge.config.fields import ForgeConfig

_SCALARS = {int: {"type": "integer"}, float: {"type": "number"}, str: {"type": "string"}, bool: {"type": "boolean"}}


def _type_schema(tp) -> dict:
    origin = typing.get_origin(tp)
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if dataclasses.is_dataclass(tp):
        return section_schema(tp)
    if origin is typing.Literal:
        values = list(typing.get_args(tp))
        kinds = sorted({"boolean" if isinstance(v, bool) else "string" for v in values})
        return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": values}
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _type_schema(args[0])
        inner["type"] = [*(inner["type"] if isinstance(inner["type"], list) else [inner["type"]]), "null"]
        if "enum" in inner:
            inner["enum"] = [*inner["enum"], None]
        return inner
    if origin is list:
        return {"type": "array", "items": _type_schema(typing.get_args(tp)[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(typing.get_args(tp)[1])}
    raise TypeError(f"unsupported config type {tp!r}")


def section_schema(cls) -> dict:
    hints = typing.get_type_hints(cls)
    props = {}
    for f in dataclasses.fields(cls):
        schema = _type_schema(hints[f.name])
        schema.update(f.metadata.get("bounds", {}))
        if f.metadata.get("doc"):
            schema["description"] = f.metadata["doc"]
        props[f.name] = schema
    return {"type": "object", "properties": props, "additionalProperties": False}


@lru_cache(maxsize=1)
def config_schema() -> dict:
    return section_schema(ForgeConfig)


def defaults(cls=ForgeConfig) -> dict:
    """The default config as plain data."""
    return dataclasses.asdict(cls())


def optional_section(tp):
    """The section class of an optional section (`RaySection | None`), or None for any other type."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and dataclasses.is_dataclass(args[0]):
            return args[0]
    return None


def build(cls, data: dict):
    """Typed config from validated data; missing keys take their defaults."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value, tp = data[f.name], hints[f.name]
        if dataclasses.is_dataclass(tp):
            value = build(tp, value or {})
        elif optional_section(tp) is not None:
            value = None if value is None else build(optional_section(tp), value)
        elif typing.get_origin(tp) is dict and dataclasses.is_dataclass(typing.get_args(tp)[1]):
            value = {k: build(typing.get_args(tp)[1], v) for k, v in value.items()}
        elif tp is float and isinstance(value, int):
            value = float(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _shown(value) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else value


def field_docs(cls=ForgeConfig, prefix: str = ""):
    """Yield (dotted key, type name, default, doc) for every leaf field, in definition order. An optional section
    (null by default) is a row of its own, followed by its keys' rows with the defaults they take once it is set."""
    hints = typing.get_type_hints(cls)
    instance = cls()
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            yield from field_docs(tp, key + ".")
            continue
        if optional_section(tp) is not None:
            yield key, "mapping/null", None, f.metadata.get("doc", "")
            yield from field_docs(optional_section(tp), key + ".")
            continue
        schema = _type_schema(tp)
        type_name = (
            "|".join(_shown(v) for v in schema["enum"])
            if "enum" in schema
            else ("/".join(schema["type"]) if isinstance(schema["type"], list) else schema["type"])
        )
        yield key, type_name, getattr(instance, f.name), f.metadata.get("doc", "")


def section_docs(cls=ForgeConfig) -> dict[str, str]:
    """Section name -> the section's one-line description."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: (hints[f.name].__doc__ or "").strip()
        for f in dataclasses.fields(cls)
        if dataclasses.is_dataclass(hints[f.name])
    }


def field_choices(key: str) -> list:
    """The values one dotted key may take (its enum), e.g. training.method's methods; the views that offer them
    (CLI choices, the planner's tools) take them from here."""
    schema = config_schema()
    for part in key.split("."):
        schema = schema["properties"][part]
    return list(schema["enum"])


def field_doc(key: str) -> str:
    """The documentation line of one dotted key (used in CLI option help)."""
    for k, _type, default, text in field_docs():
        if k == key:
            return f"{text} (forge.yaml {key}, default {default})"
    raise KeyError(key)
