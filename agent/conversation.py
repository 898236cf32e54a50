"""The planner's conversation, kept inside a context budget and laid out for the prompt cache.

Size: the prompt is estimated from the characters of the request, calibrated by the last
reply's real usage. Past `agent.context_tokens`, older turns are compacted in one step: the
last few turns stay whole, older ones shrink to one-line summaries (thinking dropped, tool
results cut to their first line), and the oldest are dropped with a note in the kickoff. The
transcript on disk keeps everything; each compaction is an event there, with its parameters,
so `--resume` and replay rebuild exactly the conversation the model saw. Compaction is
deterministic and idempotent and keeps every tool_use next to its tool_result.

Cache: the static system prompt and the tools form one cached prefix; a breakpoint on the
newest user message (and one on the message before it) lets each request read the one
before. Between compactions the prefix only grows, so the cache keeps paying. What changes
between iterations (AGENT_CONTEXT.md, PLAN.md, budgets used) is `project_state`, sent in the
conversation at the start of each iteration, never in the system prompt.
"""

from __future__ import annotations

import copy
import json

from forge.llm.client import base_url
from forge.project import records
from forge.project.status import budgets_text
from forge.text import clip, one_line

CLIP = 200
STATE_CHARS = 3000  # of PLAN.md in the project state
DROPPED_NOTE = (
    "(Earlier turns of this run were dropped to keep the context small. The project state in the "
    "latest messages and AGENT_CONTEXT.md carry what they established.)"
)
# (turns kept whole, shrunk turns kept) from gentle to hardest; the first that fits is used.
STEPS = [(6, 40), (4, 20), (2, 8), (1, 0)]
TARGET_FRACTION = 0.6  # a compaction aims at this fraction of the context budget
CHARS_PER_TOKEN = 3.0  # conservative for JSON-heavy English text
AUTO_CONTEXT_ANTHROPIC, AUTO_CONTEXT_OTHER = 150_000, 16_000


def context_budget(cfg) -> int:
    """agent.context_tokens, or its automatic value for the configured server."""
    if cfg.agent.context_tokens:
        return cfg.agent.context_tokens
    return AUTO_CONTEXT_OTHER if base_url(cfg) else AUTO_CONTEXT_ANTHROPIC


def raw_tokens(obj) -> int:
    return int(len(json.dumps(obj, ensure_ascii=False)) / CHARS_PER_TOKEN) + 1


def tool_result(tool_use_id: str, content, is_error: bool) -> dict:
    """The content block of a user message that answers the model's tool_use block `tool_use_id`."""
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": content, "is_error": bool(is_error)}


def _clip(text: str, n: int = CLIP) -> str:
    return clip(one_line(text), n)


def _clip_values(value):
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, dict):
        return {k: _clip_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip_values(v) for v in value]
    return value


def _summary(content) -> str:
    text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    first = next((line for line in text.splitlines() if line.strip()), "")
    return _clip(first)


def shrink(message: dict) -> dict:
    """A message as an older turn keeps it: one line per block, no thinking."""
    content = message["content"]
    if isinstance(content, str):
        return {"role": message["role"], "content": _clip(content)}
    out = []
    for b in content:
        kind = b.get("type")
        if kind in ("thinking", "redacted_thinking"):
            continue
        if kind == "text":
            out.append({"type": "text", "text": _clip(b["text"])})
        elif kind == "tool_use":
            out.append({**b, "input": _clip_values(b.get("input", {}))})
        elif kind == "tool_result":
            out.append(tool_result(b["tool_use_id"], _summary(b["content"]), b.get("is_error")))
        else:
            out.append(b)
    return {"role": message["role"], "content": out or [{"type": "text", "text": "(thinking omitted)"}]}


def _turn_starts(messages: list[dict]) -> list[int]:
    """Indices where a turn begins: an assistant message right after a user message."""
    return [
        i for i in range(1, len(messages)) if messages[i]["role"] == "assistant" and messages[i - 1]["role"] == "user"
    ]


def _kickoff_blocks(content) -> list[dict]:
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    return [b for b in blocks if not b.get("text", "").startswith("(Earlier turns")]


def compact(messages: list[dict], keep_whole: int, keep_shrunk: int) -> list[dict]:
    """The conversation with all but the last `keep_whole` turns shrunk and all but `keep_shrunk`
    of those dropped. The kickoff (first message) always stays."""
    starts = _turn_starts(messages)
    if len(starts) <= keep_whole:
        return messages
    whole_from = starts[-keep_whole] if keep_whole else len(messages)
    older = [s for s in starts if s < whole_from]
    keep_from = older[max(0, len(older) - keep_shrunk)] if keep_shrunk and older else whole_from
    kickoff = copy.deepcopy(messages[0])
    blocks = _kickoff_blocks(kickoff["content"])
    had_note = len(blocks) < len(kickoff["content"]) if isinstance(kickoff["content"], list) else False
    if had_note or any(s < keep_from for s in starts):
        blocks.append({"type": "text", "text": DROPPED_NOTE})
    kickoff["content"] = blocks
    kept = [shrink(m) for m in messages[keep_from:whole_from]] + copy.deepcopy(messages[whole_from:])
    return [kickoff, *kept]


def plan_compaction(messages: list[dict], fixed_tokens: int, budget: int, calibration: float) -> tuple[int, int]:
    """The gentlest step that brings the prompt to TARGET_FRACTION of the budget (or the hardest)."""
    for keep_whole, keep_shrunk in STEPS:
        est = (fixed_tokens + raw_tokens(compact(messages, keep_whole, keep_shrunk))) * calibration
        if est <= TARGET_FRACTION * budget:
            return keep_whole, keep_shrunk
    return STEPS[-1]


def with_cache_breakpoints(messages: list[dict]) -> list[dict]:
    """A copy with cache_control on the last block of the newest two user messages (2 of the 4 allowed)."""
    out = copy.deepcopy(messages)
    marked = 0
    for m in reversed(out):
        if marked == 2:
            break
        if m["role"] != "user":
            continue
        if isinstance(m["content"], str):
            m["content"] = [{"type": "text", "text": m["content"]}]
        if m["content"]:
            m["content"][-1]["cache_control"] = {"type": "ephemeral"}
            marked += 1
    return out


def drop_thinking(messages: list[dict]) -> list[dict]:
    """The conversation without thinking blocks (they are bound to the model that wrote them)."""
    out = []
    for m in messages:
        if m["role"] == "assistant" and isinstance(m["content"], list):
            blocks = [b for b in m["content"] if b.get("type") not in ("thinking", "redacted_thinking")]
            m = {"role": "assistant", "content": blocks or [{"type": "text", "text": "(thinking omitted)"}]}
        out.append(m)
    return out


def project_state(project, budgets, state) -> str:
    """What changes between iterations, sent in the conversation (never in the cached system prompt)."""
    b = budgets.snapshot(state)
    when = f"iteration {state.iteration} closed" if state.iteration else "start of the run"
    return (
        f"# Project state ({when})\n\n"
        f"Budgets used: {budgets_text(b, minutes=False)} (time: see `status`)\n\n"
        f"## AGENT_CONTEXT.md\n{records.read_context_file(project, records.CONTEXT_FILE, records.CONTEXT_CHARS)}\n\n"
        f"## PLAN.md (keep it current with update_plan)\n"
        f"{records.read_context_file(project, records.PLAN_FILE, STATE_CHARS)}\n"
    )
