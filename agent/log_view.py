"""`forge agent log`: a transcript for people — turns, text, tool calls, refusals, compactions, cost and cache."""

from __future__ import annotations

import json

from forge.project.status import BUDGETS
from forge.text import clip, one_line

SUMMARY_CHARS = 240


def _short(text: str) -> str:
    return clip(one_line(text), SUMMARY_CHARS)


def render_event(e: dict) -> list[str]:
    kind = e["event"]
    if kind == "run_start":
        b, base = e["budgets"], e.get("baseline")
        return [
            f"run started {e['time']}  planner={e['planner']} model={e['model']}",
            f"goal: {e['goal']}",
            "budgets: "
            + ", ".join(
                f"{label} {b[f'max_{name}'] or '∞'}" for name, label in BUDGETS.items() if name != "new_examples"
            ),
            *(
                [f"baseline (base model, zero-shot): {base['accuracy']:.1%} ({base['correct']}/{base['total']})"]
                if base
                else []
            ),
        ]
    if kind == "run_resume":
        return [f"--- resumed {e['time']} with planner={e['planner']} ---"]
    if kind == "tool_result" and e.get("redone"):
        return [f"     (redone after the interruption) {_short(e['content'])}  ({e['duration_s']:.1f}s)"]
    if kind == "model_response":
        u = e.get("usage") or {}
        cache = ""
        if u.get("cache_read_input_tokens") or u.get("cache_creation_input_tokens"):
            cache = (
                f", cache read {u.get('cache_read_input_tokens', 0)} / write {u.get('cache_creation_input_tokens', 0)}"
            )
        lines = [
            f"\n[turn {e['turn']}] {e['stop_reason']}  ${e.get('cost_usd', 0):.4f}"
            f" ({u.get('input_tokens', 0)} in, {u.get('output_tokens', 0)} out{cache})"
        ]
        for block in e["content"]:
            if block.get("type") == "text" and block["text"].strip():
                lines.append(f"  says: {_short(block['text'])}")
            elif block.get("type") == "thinking":
                lines.append(f"  thinks: {_short(block.get('thinking', ''))}")
        return lines
    if kind == "tool_call":
        flag = "" if e["verdict"] == "ok" else f"  !! REFUSED: {e['verdict'].removeprefix('refused: ')}"
        return [f"  -> {e['name']}({_short(json.dumps(e['input'], ensure_ascii=False))}){flag}"]
    if kind == "tool_result":
        if e["is_error"] and e.get("data", {}).get("refused") and e["duration_s"] == 0.0:
            return []  # already shown with its call
        mark = "!! " if e["is_error"] else ""
        return [f"     {mark}{_short(e['content'])}  ({e['duration_s']:.1f}s)"]
    if kind == "user_message":
        return [f"  (to the model: {_short(json.dumps(e['content'], ensure_ascii=False))})"]
    if kind == "compaction":
        return [
            f"  (context compacted{' hard' if e.get('hard') else ''}: ~{e['tokens_before']} -> ~{e['tokens_after']}"
            f" tokens; last {e['keep_whole']} turns whole, {e['keep_shrunk']} older as summaries)"
        ]
    if kind == "run_end":
        best = "none" if e["best_accuracy"] is None else f"{e['best_accuracy']:.1%}"
        return [
            f"\nrun {e['status']}: {e['reason']}",
            f"best accuracy: {best}",
            f"total cost: ${e['total_cost_usd']:.4f}",
            f"tool calls: {e['budgets']['tool_calls']}, iterations: {e['budgets']['iterations']}",
        ]
    return []


def cache_summary(events: list[dict]) -> str | None:
    """Cache hit rate, dollars it saved and the largest prompt, over a run's planner replies."""
    from forge.errors import ForgeError
    from forge.llm.client import CACHE_READ, CACHE_WRITE, price

    replies = [e for e in events if e["event"] == "model_response" and e.get("usage")]
    if not replies:
        return None
    saved, read, total, largest = 0.0, 0, 0, 0
    for e in replies:
        u = e["usage"]
        r, w = u.get("cache_read_input_tokens", 0), u.get("cache_creation_input_tokens", 0)
        prompt = u.get("input_tokens", 0) + r + w
        read, total, largest = read + r, total + prompt, max(largest, prompt)
        try:
            p_in = price(e.get("model", ""))[0]
        except ForgeError:
            continue
        saved += (r * (1 - CACHE_READ) - w * (CACHE_WRITE - 1)) * p_in / 1e6
    if not total:
        return None
    return (
        f"prompt cache: {read / total:.0%} of {total} input tokens read from the cache, saving ${saved:.4f}; "
        f"largest prompt {largest} tokens"
    )
