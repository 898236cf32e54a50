"""llama.cpp's side of the output contract: the schema as a GBNF grammar, shipped beside the GGUF and used by
`--gguf` decoding, holding everything the schema says or refused by name.

Built through llama-cpp-python's port of llama.cpp's JSON-Schema converter, keys in forge.inference.constrained's
decoding_order and laid out as forge decoded under llguidance, so both engines read one schema the same way.
"""

from __future__ import annotations

import json

from forge.data.tool_calls import CALL_CLOSE, CALL_OPEN
from forge.errors import ForgeError
from forge.inference.constrained import LAYOUTS, TOOL_CHOICE_START, decoding_order, decoding_schema, project_layout

# JSON Schema keywords llama-cpp-python's converter reads no rule from: a grammar built from a schema that uses them
# lets llama.cpp write answers the schema refuses (a 5-command schema whose `args` had maxProperties 0 got
# `{"": ""}` args from the exported GGUF). Its string formats: the ones below, the rest are free strings.
GBNF_UNENFORCED = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minProperties",
    "maxProperties",
    "uniqueItems",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "patternProperties",
    "propertyNames",
    "contains",
    "minContains",
    "maxContains",
    "unevaluatedProperties",
    "unevaluatedItems",
)
GBNF_FORMATS = ("date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5")


GBNF_MAX_ENUM = 1024  # an integer range up to this many values is written as their alternation


def integer_ranges_as_enums(schema):
    """`schema` with each bounded integer (minimum/maximum, or their exclusive forms) of at most GBNF_MAX_ENUM values
    written as the enum of those values: the same answers, in words llama.cpp's converter enforces."""
    if isinstance(schema, list):
        return [integer_ranges_as_enums(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: integer_ranges_as_enums(v)
        if k in ("items", "prefixItems", "additionalProperties", "anyOf", "oneOf", "allOf")
        else v
        for k, v in schema.items()
    }
    for group in ("properties", "$defs", "definitions"):
        if isinstance(schema.get(group), dict):
            out[group] = {k: integer_ranges_as_enums(v) for k, v in schema[group].items()}
    lo = schema.get(
        "minimum", schema["exclusiveMinimum"] + 1 if isinstance(schema.get("exclusiveMinimum"), int) else None
    )
    hi = schema.get(
        "maximum", schema["exclusiveMaximum"] - 1 if isinstance(schema.get("exclusiveMaximum"), int) else None
    )
    if (
        schema.get("type") == "integer"
        and isinstance(lo, int)
        and isinstance(hi, int)
        and "enum" not in schema
        and 0 <= hi - lo < GBNF_MAX_ENUM
    ):
        for key in ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            out.pop(key, None)
        out["enum"] = list(range(lo, hi + 1))
    return out


def gbnf_unenforced(schema, where: str = "") -> list[str]:
    """`path: keyword` for every keyword of `schema` that gbnf's grammar would not enforce."""
    if isinstance(schema, list):
        return [f for n, s in enumerate(schema) for f in gbnf_unenforced(s, f"{where}/{n}")]
    if not isinstance(schema, dict):
        return []
    here = where or "(top level)"
    found = [f"{here}: {k}" for k in GBNF_UNENFORCED if k in schema]
    if "format" in schema and schema["format"] not in GBNF_FORMATS:
        found.append(f"{here}: format {schema['format']}")
    if "pattern" in schema and ("minLength" in schema or "maxLength" in schema):  # the pattern's rule wins
        found.append(f"{here}: {'minLength' if 'minLength' in schema else 'maxLength'} beside pattern")
    for key in ("items", "prefixItems", "additionalProperties", "anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), dict | list):
            found += gbnf_unenforced(schema[key], f"{where}/{key}")
    for group in ("properties", "$defs", "definitions"):
        for name, sub in (schema.get(group) or {}).items():
            found += gbnf_unenforced(sub, f"{where}/{name}" if group == "properties" else f"{where}/{group}/{name}")
    return found


def gbnf(schema: dict, layout: str = "flexible") -> str:
    """The schema as a GBNF grammar for llama.cpp (llama-server --grammar-file, llama-cpp-python), through
    llama.cpp's JSON-Schema converter as llama-cpp-python ships it, keys in decoding_order. Its whitespace
    rule (`space`: an optional blank) is replaced by the `layout`'s separators, so llama.cpp writes an answer
    the way forge decoded it under llguidance. A schema with a keyword the converter does not enforce
    (gbnf_unenforced) is refused, naming it: the grammar shipped must hold everything the schema says."""
    import re

    schema = integer_ranges_as_enums(schema)
    loose = gbnf_unenforced(schema)
    if loose:
        raise ForgeError(
            f"the output schema at {loose[0]}: llama.cpp's grammar would not enforce it, so the GGUF "
            f"could answer outside the schema{f' ({len(loose) - 1} more)' if len(loose) > 1 else ''}; "
            "drop the keyword (or express it with enum / const / pattern) to export with a grammar"
        )
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except ImportError:
        raise ForgeError("a GBNF grammar needs llama-cpp-python: pip install 'forge-slm[llama-cpp]'") from None
    text = json_schema_to_gbnf(json.dumps(decoding_order(schema)))
    if layout == "flexible":
        return text
    item, key = LAYOUTS[layout]["item_separator"], LAYOUTS[layout]["key_separator"]
    text = text.replace('"," space', json.dumps(item)).replace('":" space', json.dumps(key))
    return re.sub(r"^space ::= .*$", 'space ::= ""', text, flags=re.M)


def constraint_gbnf(constraint) -> str:
    """The llama.cpp grammar of a forge.inference.constrained.Constraint: its schema's, or, for a turn that may
    call tools, the same `calls | reply` grammar llguidance decodes (each call a <tool_call> block of JSON
    under the call schema; a reply any text that opens like no call)."""
    import re

    text = gbnf(constraint.schema, constraint.layout)
    if constraint.tool_choice is None:
        return text
    text = re.sub(r"^root ::=", "tool-call-json ::=", text, flags=re.M)
    return (
        f"root ::= {TOOL_CHOICE_START[constraint.tool_choice]}\n"
        'calls ::= call ("\\n" call)*\n'
        f"call ::= {json.dumps(CALL_OPEN + chr(10))} tool-call-json {json.dumps(chr(10) + CALL_CLOSE)}\n"
        "reply ::= [^<\\x20\\x0A\\x0D\\x09] [^\\x00]*\n" + text
    )


def gguf_grammar(project, gguf):
    """The llama.cpp grammar to decode a GGUF under: the .gbnf exported beside it, else the project's schema;
    None when eval.constrained is false or there is no schema."""
    from llama_cpp import LlamaGrammar

    if project.config.eval.constrained is False:
        return None
    beside = gguf.with_suffix(".gbnf")
    if beside.is_file():
        return LlamaGrammar.from_string(beside.read_text(encoding="utf-8"), verbose=False)
    schema = decoding_schema(project)
    return LlamaGrammar.from_string(gbnf(schema.schema, project_layout(project)), verbose=False) if schema else None
