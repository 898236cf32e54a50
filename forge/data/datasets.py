"""Chat-format JSONL datasets: load with file:line errors, dedupe, provenance, atomic writes.

One example a line: {"messages": [{"role": "system"?}, {"role": "user"}, {"role": "assistant"}],
"provenance": {...}}. The extra `provenance` key (source, iteration, time) is ignored by tools
that only read `messages`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from forge.atomic import append_bytes_atomic, write_bytes_atomic
from forge.clock import now
from forge.data.output_schema import TOOL_CHOICES, schema_for
from forge.data.tool_calls import answer_text, messages_problem, normalize_message
from forge.errors import DatasetError
from forge.hashing import content_hash
from forge.locks import file_lock

SOURCES = ("seed", "hand", "generate", "augment", "patch", "audit-fix")
ROLES = ("system", "user", "assistant", "tool")


def example_problem(obj) -> str | None:
    """Why `obj` is not a valid chat example, or None."""
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    msgs = obj.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return 'missing "messages" (a non-empty list)'
    for n, msg in enumerate(msgs):
        if not isinstance(msg, dict):
            return f"messages[{n}] is not an object"
        if msg.get("role") not in ROLES:
            return f"messages[{n}].role must be one of {', '.join(ROLES)}, got {msg.get('role')!r}"
        if not isinstance(msg.get("content"), str):
            return f"messages[{n}].content must be a string"
        if msg["role"] == "system" and n != 0:
            return f"messages[{n}]: a system message may only come first"
    roles = [m["role"] for m in msgs if m["role"] != "system"]
    if "user" not in roles:
        return "no user message"
    if roles[-1] != "assistant":
        return "the last message must be the assistant's answer"
    tools = obj.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        return '"tools" must be a list of function definitions (objects)'
    if obj.get("tool_choice", "auto") not in TOOL_CHOICES:
        return f"tool_choice must be one of {', '.join(TOOL_CHOICES)}, got {obj.get('tool_choice')!r}"
    problem = messages_problem(msgs, tools)
    if problem:
        return problem
    prov = obj.get("provenance")
    if prov is not None and (not isinstance(prov, dict) or prov.get("source") not in SOURCES):
        return f"provenance.source must be one of {', '.join(SOURCES)}"
    return None


def user_text(example: dict) -> str:
    """What an example's input says: its user turns and tool results (the history's calls follow from them)."""
    return "\n".join(m["content"] for m in example["messages"] if m.get("role") in ("user", "tool"))


def assistant_text(example: dict) -> str:
    """The final answer as it is scored: its calls as JSON when it calls (forge.data.tool_calls), else its text."""
    return answer_text(example["messages"][-1])


def normalized(obj):
    """An example with OpenAI's message variants in forge's shape (forge.data.tool_calls.normalize_message);
    ValueError naming the message when a call cannot be read."""
    msgs = obj.get("messages") if isinstance(obj, dict) else None
    if not isinstance(msgs, list):
        return obj
    return {**obj, "messages": [normalize_message(m, f"messages[{n}]") for n, m in enumerate(msgs)]}


def example_id(example: dict, n: int = 12) -> str:
    """An example's stable id: the hash of its normalized user text (see `normalize`), so duplicates of one
    input share it. Eval records keep 12 characters; the validation split reads 16 (64 bits)."""
    return content_hash(normalize(user_text(example)), n)


def normalize(text: str) -> str:
    """Case-, accent-width- and punctuation-insensitive form used for dedupe and the gold guard."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\W_]+", " ", text).strip()


def load_examples(path: Path, display: str | None = None, *, missing_ok: bool = False) -> list[dict]:
    """Every example in a JSONL file, or DatasetError naming file:line and the problem."""
    return [e for _, e in load_numbered(path, display, missing_ok=missing_ok)]


def load_numbered(path: Path, display: str | None = None, *, missing_ok: bool = False) -> list[tuple[int, dict]]:
    """(line number, example) for every example in a JSONL file (errors as load_examples)."""
    display = display or str(path)
    path = Path(path)
    if not path.exists():
        if missing_ok:
            return []
        raise DatasetError(f"{display}: not found")
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    examples = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        last = n == len(lines)  # no newline after it
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            raise DatasetError(f"{display}:{n}: not valid UTF-8") from None
        except json.JSONDecodeError as exc:
            if last:
                raise DatasetError(
                    f"{display}:{n}: truncated last line (no newline at the end; the file was cut mid-write): {exc.msg}"
                ) from None
            raise DatasetError(f"{display}:{n}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        try:
            obj = normalized(obj)
        except ValueError as exc:
            raise DatasetError(f"{display}:{n}: {exc}") from None
        problem = example_problem(obj)
        if problem:
            raise DatasetError(f"{display}:{n}: {problem}")
        examples.append((n, obj))
    return examples


def provenance(example: dict) -> dict:
    """Where an example came from; examples without a record were written by hand."""
    return example.get("provenance") or {"source": "hand"}


def stamp(example: dict, source: str, iteration: int | None = None, **extra) -> dict:
    if source not in SOURCES:
        raise ValueError(f"unknown provenance source {source!r}")
    prov: dict[str, object] = {"source": source, "time": now()}
    if iteration is not None:
        prov["iteration"] = iteration
    prov.update({k: v for k, v in extra.items() if v is not None})
    return {**example, "provenance": prov}


def encode(examples: list[dict]) -> bytes:
    return b"".join(json.dumps(e, ensure_ascii=False).encode("utf-8") + b"\n" for e in examples)


GOLD_PAIRS_SHOWN = 3


@dataclass
class AppendResult:
    kept: int = 0
    duplicates: int = 0
    gold_rejected: int = 0
    gold_rules: dict[str, int] = field(default_factory=dict)  # the gold-guard rule -> examples refused
    gold_pairs: list[str] = field(default_factory=list)  # the first few `origin ~ gold file:line (rule)`
    invalid: list[str] = field(default_factory=list)
    schema_rejected: dict[str, int] = field(default_factory=dict)  # the schema rule broken -> examples
    tool_types: list[str] = field(default_factory=list)  # BFCL type names read as JSON Schema's ("dict -> object")

    def as_dict(self) -> dict:
        return {
            "kept": self.kept,
            "duplicates": self.duplicates,
            "gold_rejected": self.gold_rejected,
            "gold_rules": dict(self.gold_rules),
            "gold_pairs": list(self.gold_pairs),
            "invalid": len(self.invalid),
            "schema_rejected": sum(self.schema_rejected.values()),
            "schema_rules": dict(self.schema_rejected),
        }


def append_examples(
    path: Path,
    examples: list[dict],
    gold_guard,
    *,
    schema,
    display: str | None = None,
    origins: list[str] | None = None,
    tool_choice: str = "auto",
) -> AppendResult:
    """Validate, dedupe (against the file and the batch), gold-guard, check answers against the output schema,
    then append atomically.

    `guard` is the project's GoldGuard and `schema` its OutputSchema (None without one); both are required so
    no training-set write can skip them. An example carrying `tools` keeps its own tools' contract
    (forge.data.output_schema.schema_for, under `tool_choice`: eval.tool_choice). `origins` (one per example, e.g. `file:line`) name the refused ones
    in result.gold_pairs.
    """
    origins = origins or [f"example {n + 1}" for n in range(len(examples))]
    with file_lock(path):  # the dedupe read and the append: a concurrent import waits, then lands
        existing = load_examples(path, display, missing_ok=True)
        seen = {normalize(user_text(e)) for e in existing}
        result, fresh, fresh_origins = AppendResult(), [], []
        for ex, origin in zip(examples, origins, strict=True):
            problem = example_problem(ex)
            if problem:
                result.invalid.append(problem)
                continue
            key = normalize(user_text(ex))
            if key in seen:
                result.duplicates += 1
                continue
            seen.add(key)
            fresh.append(ex)
            fresh_origins.append(origin)
        kept, refused = gold_guard.filter(fresh)  # first: a gold-like example counts as that, whatever else
        result.gold_rejected, result.gold_rules = len(refused), dict(refused.by_rule.most_common())
        result.gold_pairs = [f"{fresh_origins[n]} ~ {where}" for n, where in refused.pairs[:GOLD_PAIRS_SHOWN]]
        within = []
        for ex in kept:
            own = schema_for(ex, schema, tool_choice)
            broken = own.check(assistant_text(ex)) if own else None
            if broken:
                result.schema_rejected[broken[0]] = result.schema_rejected.get(broken[0], 0) + 1
            else:
                within.append(ex)
        kept = within
        if kept:
            append_bytes_atomic(path, encode(kept))
        result.kept = len(kept)
        return result


def dedupe(examples: list[dict]) -> tuple[list[dict], int]:
    """Examples with repeated normalized user content dropped (first kept), and how many went."""
    seen, out = set(), []
    for ex in examples:
        key = normalize(user_text(ex))
        if key not in seen:
            seen.add(key)
            out.append(ex)
    return out, len(examples) - len(out)


def rewrite_examples(path: Path, examples: list[dict]) -> None:
    write_bytes_atomic(path, encode(examples))


def file_hash(path: Path) -> str | None:
    path = Path(path)
    return content_hash(path.read_bytes()) if path.exists() else None


def schema_violations(schema, path: Path, display: str, tool_choice: str = "auto") -> list[str]:
    """`file:line: reason` for every example in a dataset file whose answer is outside its contract
    (forge.data.output_schema.schema_for: its tools', else `schema`, the project's OutputSchema or None)."""
    return [
        f"{display}:{line}: {why}"
        for line, ex in load_numbered(path, display, missing_ok=True)
        if (own := schema_for(ex, schema, tool_choice)) and (why := own.violation(assistant_text(ex)))
    ]
