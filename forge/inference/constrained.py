"""Decoding under the output contract: one llguidance matcher per row, as a transformers logits processor.

llguidance (the Rust engine behind guidance; a 3 MB wheel with no dependencies) compiles the JSON
Schema into a grammar over the tokenizer's vocabulary. At every step each row's matcher says which
tokens keep the answer inside the schema and the rest are masked out; once the JSON is complete
only the end tokens remain, so the row stops there. xgrammar does the same for vLLM and SGLang but
pulls triton (~1 GB) into a CPU install. Works batched and left-padded: a row's matcher only sees
the tokens generated after the prompt. Keys come in decoding_order: required first, then optional,
as llama.cpp's grammar for the same schema has them.
"""

from __future__ import annotations

import json

from forge.data.tool_calls import CALL_CLOSE, CALL_OPEN, has_calls
from forge.errors import ForgeError

# How answers are laid out, read off the training set: json.dumps's one line (", " and ": "), the compact
# one ("," and ":"), or anything else (pretty-printed): then whitespace between tokens is free but bounded,
# so an unsure model cannot spend its whole token budget on blank space inside the grammar.
LAYOUTS = {
    "json.dumps": {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "},
    "compact": {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"},
    "flexible": {"whitespace_flexible": True, "whitespace_pattern": r"[\x20\x0A\x0D\x09]{1,8}"},
}
LAYOUT_SAMPLE = 200
# What a turn under each eval.tool_choice may be: <tool_call> blocks, a text reply, or either.
TOOL_CHOICE_START = {"auto": "calls | reply", "required": "calls", "none": "reply"}


def answer_layout(answers: list[str]) -> str:
    """The LAYOUTS key every one of `answers` (JSON texts) is written in; flexible when they differ or none."""

    def layout(text: str) -> str:
        try:
            value = json.loads(text)
        except ValueError:
            return "flexible"
        if text.strip() == json.dumps(value, ensure_ascii=False):
            return "json.dumps"
        return "compact" if text.strip() == json.dumps(value, ensure_ascii=False, separators=(",", ":")) else "flexible"

    seen = {layout(a) for a in answers[:LAYOUT_SAMPLE]}
    return seen.pop() if len(seen) == 1 else "flexible"


def decoding_order(schema):
    """The schema as both engines decode it, the way llama.cpp's JSON-Schema converter reads it: each object's
    properties required first, then optional, each in the schema's order (llguidance would keep the schema's
    order), and no keys beyond `properties` unless additionalProperties says so. What forge evaluates is
    then what llama.cpp serves."""
    if isinstance(schema, list):
        return [decoding_order(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: decoding_order(v) for k, v in schema.items()}
    props = out.get("properties")
    if isinstance(props, dict):
        required = set(out.get("required") or [])
        out["properties"] = {
            k: props[k] for k in [*(k for k in props if k in required), *(k for k in props if k not in required)]
        }
        # llama.cpp's converter (like vLLM) writes no other keys unless the schema allows them explicitly
        out.setdefault("additionalProperties", False)
    return out


class Constraint:
    """A schema compiled for one tokenizer; `processor` gives the per-batch logits processor."""

    def __init__(self, schema: dict, tokenizer, layout: str = "json.dumps", tool_choice: str | None = None):
        """`schema` is the answer's JSON Schema; with `tool_choice` (forge.data.output_schema.ToolsContract) it is
        one call's, and the answer is Hermes text: `<tool_call>` blocks, or a text reply where tool_choice allows."""
        self.tokenizer, self.layout, self.schema, self.tool_choice = tokenizer, layout, schema, tool_choice
        json_text = "%json " + json.dumps({**decoding_order(schema), "x-guidance": LAYOUTS[layout]})
        # no_forcing: where the schema fixes the next text, llguidance would allow only that text's canonical
        # token; llama.cpp's grammar allows any token that spells it. Decode as the shipped GGUF will.
        head = '%llguidance {"no_forcing": true}\n'
        if tool_choice is None:
            self.grammar = head + "start: " + json_text
        else:
            start = TOOL_CHOICE_START[tool_choice]
            # a reply is any text that does not open like a call (it starts with neither "<" nor a blank)
            self.grammar = (
                head + f'start: {start}\ncalls: call ("\\n" call)*\n'
                f'call: "{CALL_OPEN}\\n" {json_text} "\\n{CALL_CLOSE}"\n'
                "reply: /[^<\\s][^\\x00]*/\n"
            )
        self._matchers: dict[tuple, object] = {}  # (vocab size, stop ids) -> a fresh matcher to copy

    def _prototype(self, vocab_size: int, stop: frozenset[int]):
        key = (vocab_size, stop)
        if key not in self._matchers:
            import llguidance
            import llguidance.hf

            try:
                lltok = llguidance.hf.from_tokenizer(self.tokenizer, n_vocab=vocab_size, eos_token=sorted(stop))
            except ValueError as exc:
                raise ForgeError(f"constrained decoding needs a fast (tokenizers) tokenizer: {exc}") from None
            matcher = llguidance.LLMatcher(lltok, self.grammar, log_level=0)
            if matcher.is_error():
                raise ForgeError(f"eval.output_schema: llguidance cannot compile it: {matcher.get_error()}")
            self._matchers[key] = matcher
        return self._matchers[key]

    def processor(self, rows: int, prompt_len: int, stop: set[int]):
        return RowMatchers([self] * rows, prompt_len, frozenset(stop))


class RowMatchers:
    """The logits processor of one `generate` call: masks each row to the tokens its own constraint's matcher
    allows (rows whose constraint is None decode freely), so one batch can mix contracts."""

    def __init__(self, constraints: list[Constraint | None], prompt_len: int, stop: frozenset[int]):
        self.constraints, self.prompt_len, self.stop = constraints, prompt_len, stop
        self.matchers: list | None = None
        self.done = [c is None for c in constraints]

    def __call__(self, input_ids, scores):
        import numpy as np
        import torch

        vocab = scores.shape[1]
        if self.matchers is None:
            self.matchers = [c._prototype(vocab, self.stop).deep_copy() if c else None for c in self.constraints]
        elif input_ids.shape[1] > self.prompt_len:
            for i, tok in enumerate(input_ids[:, -1].tolist()):
                if self.done[i]:
                    continue
                if tok in self.stop:
                    self.done[i] = True
                else:
                    self.matchers[i].consume_token(tok)
        allowed = torch.ones_like(scores, dtype=torch.bool)
        stop_only = torch.zeros(vocab, dtype=torch.bool)
        stop_only[[t for t in self.stop if t < vocab]] = True
        for i, matcher in enumerate(self.matchers):
            if self.done[i]:
                continue  # finished or free: generate pads a finished row whatever it scores
            if matcher.is_stopped() or matcher.is_error():
                allowed[i] = stop_only  # the JSON is complete (or the matcher gave up): end the row
                continue
            bits = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
            row = torch.from_numpy(bits[:vocab].astype(bool))
            allowed[i, : row.shape[0]] = row
            allowed[i, row.shape[0] :] = False
        return scores.masked_fill(~allowed, float("-inf"))


def example_constraints(project, tokenizer, examples: list[dict], schema=None) -> list[Constraint | None] | None:
    """One Constraint per example, as eval.constrained asks: an example carrying `tools` decodes under its
    own tools' contract, the rest under the project's schema (`schema`: already loaded). None when every
    example decodes freely."""
    from forge.data.output_schema import ToolsContract, schema_for

    mode = project.config.eval.constrained
    schema = schema or project.output_schema()
    if mode is False:
        return None
    if mode is True and schema is None and not any(e.get("tools") for e in examples):
        raise ForgeError("eval.constrained: true needs eval.output_schema (a JSON Schema file)")
    training = None  # the training set, read once: its layout, and whether it writes tool_calls
    compiled: dict[tuple[str, bool], Constraint] = {}
    out: list[Constraint | None] = []
    for ex in examples:
        own = schema_for(ex, schema, project.config.eval.tool_choice)
        if own is None:
            out.append(None)
            continue
        if training is None:
            training = _training(project)
        # a task whose data writes calls as tool_calls answers in <tool_call> blocks (forge.models.tool_template);
        # one that writes each call as JSON in the answer's text (forge's shape before tool_calls) keeps it
        calls = isinstance(own, ToolsContract) and any(has_calls(e) for e in (*examples, *training))
        hermes = own if isinstance(own, ToolsContract) and calls else None
        key = (own.hash, hermes is not None)
        if key not in compiled:
            layout = project_layout(project, training)
            compiled[key] = (
                Constraint(hermes.call_schema, tokenizer, layout, hermes.tool_choice)
                if hermes
                else Constraint(own.schema, tokenizer, layout)
            )
        out.append(compiled[key])
    return out if any(c is not None for c in out) else None


def _training(project) -> list[dict]:
    from forge.data.datasets import load_examples

    return load_examples(project.canonical_path, project.rel(project.canonical_path), missing_ok=True)


def project_layout(project, training: list[dict] | None = None) -> str:
    """The LAYOUTS key of the project's training answers (answer_layout); `training`: the set, already read."""
    from forge.data.datasets import assistant_text

    return answer_layout([assistant_text(e) for e in (_training(project) if training is None else training)])


def decoding_schema(project, schema=None):
    """The OutputSchema to decode under, as eval.constrained says (`schema`: already loaded), or None for free
    decoding."""
    mode = project.config.eval.constrained
    schema = schema or project.output_schema()
    if mode is True and schema is None:
        raise ForgeError("eval.constrained: true needs eval.output_schema (a JSON Schema file)")
    return None if mode is False else schema


def project_constraint(project, tokenizer, schema=None) -> Constraint | None:
    """The Constraint eval.constrained asks for with the project's schema (`schema`: already loaded), or None
    for free decoding."""
    schema = decoding_schema(project, schema)
    return Constraint(schema.schema, tokenizer, project_layout(project)) if schema else None
